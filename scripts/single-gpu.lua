#!/usr/bin/env ptlua
-- The host's only GPU for a VM. At pre-start the console is handed over: the display manager
-- stopped (when it runs), the vtconsoles unbound, the firmware framebuffer (efifb, vesafb,
-- simplefb, simpledrm) unbound, each step journaled before it is made; then the GPU with its
-- audio and USB-C functions is bound to vfio-pci. At post-stop everything goes back in reverse:
-- the devices to their drivers, the framebuffer, the vtconsoles, the display manager. A crash
-- in between is recovered by the next restore (restore.lua --vm N). The host has no screen while
-- the VM runs: the guard refuses the console's GPU unless --host-loses-console says so. As a
-- Proxmox hookscript: ptlua hookscript --vm 100 --recipe single-gpu --host-loses-console.
local pt = require "pt"
local passthrough = require "pt.passthrough"

-- Whether the devices hold the host's console, as the kernel says (the guard: the device the
-- framebuffer console draws on, the boot VGA device), not whether the GPU is the only one.
local function hold_console(devices)
  for _, d in ipairs(devices) do
    for _, k in ipairs(d.critical_kinds) do
      if k == "console" or k == "boot-vga" then return true end
    end
  end
  return false
end

local function take(inv, gpu, args, vm)
  local devices = passthrough.gpu_devices(inv, gpu, args.force)
  if not hold_console(devices) then
    -- the console is elsewhere (another GPU, a BMC, serial): it stays where it is
    print(string.format("%s does not hold the host's console: the console stays with the host", gpu.address))
    passthrough.bind(devices, { vm = vm, ["dry-run"] = args["dry-run"], force = args.force })
    return
  end
  if not args["host-loses-console"] then
    error(string.format("%s draws the host's console: the host has no screen while VM %d runs; " ..
      "--host-loses-console hands the console over", gpu.address, vm), 0)
  end
  local steps, err = pt.hand_over_console { vm = vm, dry_run = args["dry-run"] }
  if not steps then error(err, 0) end
  for _, s in ipairs(steps) do print(s) end
  local ok, bound = pcall(passthrough.bind, devices, { vm = vm, ["dry-run"] = args["dry-run"], force = args.force,
    console = true })
  if not ok then
    -- the console comes back when the GPU cannot go
    if not args["dry-run"] then pt.restore { vm = vm } end
    error(bound, 0)
  end
end

local function give_back(vm)
  local given, holds = pt.restore { vm = vm }
  if not given then error(holds, 0) end
  print(string.format("vm %d gave back %s%s%d hold%s (the console)", vm, table.concat(given, " "),
    #given > 0 and " and " or "", holds, holds == 1 and "" or "s"))
end

return {
  name = "single-gpu",
  description = "hand the host's only GPU (and its console) to a VM, and take them back; a hookscript too",
  args = {
    { name = "gpu", type = "pci-addr", help = "the GPU (default: the only discrete GPU)" },
    { name = "vm", type = "vmid", help = "the VM" },
    { name = "host-loses-console", type = "bool",
      help = "acknowledge that the host has no screen while the VM runs (required)" },
    { name = "give-back", type = "bool", help = "give the GPU and the console back (what post-stop does)" },
    { name = "dry-run", type = "bool", help = "print every write and command it would make, change nothing" },
    { name = "force", type = "bool", help = "also take devices of other slots in the GPU's IOMMU group" },
  },
  run = function(args)
    if not args.vm then error("--vm is required", 0) end
    if args["give-back"] then return give_back(args.vm) end
    local inv, err = pt.scan(args.gpu and { devices = { args.gpu } } or nil)
    if not inv then error(err, 0) end
    take(inv, passthrough.find_gpu(inv, args.gpu), args, args.vm)
  end,
  ["pre-start"] = function(args, hook)
    local inv, gpu = passthrough.hook_gpu(args, hook)
    take(inv, gpu, args, hook.vm)
  end,
  ["post-stop"] = function(args, hook) give_back(hook.vm) end,
}
