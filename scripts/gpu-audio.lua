#!/usr/bin/env ptlua
-- A GPU for a VM, with its audio and USB-C (UCSI) functions. As a Proxmox hookscript
-- (ptlua hookscript --vm 100 --recipe gpu-audio [--gpu 01:00.0]) it binds them at pre-start and gives them back
-- to their host drivers at post-stop; set the `gpu` default below, or let it read the VM's
-- hostpci lines.
local pt = require "pt"
local passthrough = require "pt.passthrough"

local find_gpu, devices_of = passthrough.find_gpu, passthrough.gpu_devices

return {
  name = "gpu-audio",
  description = "pass a GPU with its audio and USB-C functions to a VM; a Proxmox hookscript too",
  args = passthrough.args {
    { name = "gpu", type = "pci-addr", help = "the GPU (default: the only discrete GPU)" },
    { name = "primary", type = "bool", help = "the VM's primary display (x-vga)" },
  },
  run = function(args)
    -- a GPU named: only it and what it needs are read (a mapping lists the whole host's)
    local inv, err = pt.scan(args.gpu and args.emit ~= "mapping" and { devices = { args.gpu } } or nil)
    if not inv then error(err, 0) end
    local devices = devices_of(inv, find_gpu(inv, args.gpu), args.force)
    if args.emit then return passthrough.emit(inv, devices, args) end
    passthrough.bind(devices, args)
  end,
  ["pre-start"] = function(args, hook)
    local inv, gpu = passthrough.hook_gpu(args, hook)
    passthrough.bind(devices_of(inv, gpu, args.force), { vm = hook.vm, force = args.force, driver = args.driver })
  end,
  ["post-stop"] = function(args, hook)
    local given, err = pt.restore { vm = hook.vm }
    if not given then error(err, 0) end
    print(#given > 0 and ("gave back " .. table.concat(given, " ")) or "nothing to give back")
  end,
}
