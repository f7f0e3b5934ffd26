#!/usr/bin/env ptlua
-- Shares a GPU between VMs: the mediated device types each parent offers (and how many are
-- left), its live mdevs, NVIDIA vGPU 17+ types on VFs; the VM configuration for a type
-- (Proxmox creates the mdev at start; --emit mapping writes a cluster mapping with mdev 1), or
-- for an existing mdev in libvirt or QEMU. For libvirt and QEMU, --create makes the mdev for a
-- VM, and --vgpu-type sets a VF's vGPU type: each journaled, and given back by the VM's restore
-- (restore.lua --vm N, or a hookscript's post-stop).
local pt = require "pt"
local json = require "pt.json"
local proxmox = require "pt.proxmox"

local function listing(inv)
  local out = json.array()
  for dev in inv:devices() do
    local types, mdevs = dev:mdev_types(), dev:mdevs()
    local vgpu, current = dev:vgpu_types()
    if #types > 0 or #mdevs > 0 or vgpu then
      out[#out + 1] = { address = dev.address, types = json.array(types), mdevs = json.array(mdevs),
        vgpu_types = vgpu and json.array(vgpu) or json.null, current_vgpu_type = current or json.null }
    end
  end
  return out
end

return {
  name = "vgpu",
  description = "list mediated device (vGPU) types and mdevs, and emit a VM's configuration for one",
  args = {
    { name = "device", type = "pci-addr", help = "the parent device (the GPU)" },
    { name = "type", type = "string", help = "the mdev type for the VM (Proxmox creates the mdev)" },
    { name = "vm", type = "vmid", help = "the VM (with --type)" },
    { name = "uuid", type = "string", help = "an existing mdev, for --emit libvirt or qemu" },
    { name = "emit", type = "enum", values = { "proxmox", "qm", "libvirt", "qemu", "mapping" }, default = "proxmox",
      help = "what to print" },
    { name = "mapping", type = "string", help = "the cluster mapping's name (with --emit mapping)" },
    { name = "create", type = "bool", help = "create an mdev of --type for --vm (given back at its restore)" },
    { name = "vgpu-type", type = "integer", help = "set the VF's NVIDIA vGPU type for --vm (given back at its restore)" },
    { name = "dry-run", type = "bool", help = "with --create or --vgpu-type: print the writes, make none" },
    { name = "json", type = "bool", help = "the listing as JSON" },
  },
  run = function(args)
    local inv, err = pt.scan()
    if not inv then error(err, 0) end
    if not args.device then
      local list = listing(inv)
      if args.json then print(json.encode(list, "  ")); return 0 end
      if #list == 0 then print("no mediated device parents and no NVIDIA vGPU VFs on this host") end
      for _, p in ipairs(list) do
        print(p.address .. ":")
        for _, t in ipairs(p.types) do
          print(string.format("  type %s%s: %s instance%s left%s", t.type, t.name and " (" .. t.name .. ")" or "",
            t.available_instances or "?", t.available_instances == 1 and "" or "s",
            t.description and ", " .. t.description or ""))
        end
        for _, m in ipairs(p.mdevs) do print(string.format("  mdev %s: %s", m.uuid, m.type)) end
        if p.vgpu_types ~= json.null then
          local cur = p.current_vgpu_type
          print(string.format("  vGPU (NVIDIA 17+): current type %s", cur == 0 and "none" or tostring(cur)))
          for _, t in ipairs(p.vgpu_types) do print(string.format("  vGPU type %d: %s", t.id, t.name)) end
        end
      end
      return 0
    end
    local dev
    dev, err = inv:device(args.device)
    if not dev then error(err, 0) end
    if args.emit == "libvirt" or args.emit == "qemu" then
      if not args.uuid then error("--uuid: the existing mdev for --emit " .. args.emit, 0) end
      local found = false
      for _, m in ipairs(dev:mdevs()) do found = found or m.uuid == args.uuid end
      if not found then error(string.format("%s has no mdev %s", dev.address, args.uuid), 0) end
      if args.emit == "libvirt" then
        print((assert(pt.emit_mdev("libvirt", args.uuid))))
      else
        print(pt.shell_quote(assert(pt.emit_mdev("qemu", args.uuid))))
      end
      return 0
    end
    if args.create or args["vgpu-type"] then
      if not args.vm then error("--vm: the VM that holds it", 0) end
      if args.create and not args.type then error("--type: the mdev type to create", 0) end
      -- the steps, then the mdev's UUID; or nil and why
      local steps, uuid_or_err = (args.create and dev.create_mdev or dev.set_vgpu_type)(dev, {
        type = args.create and args.type or args["vgpu-type"], vm = args.vm, uuid = args.create and args.uuid or nil,
        dry_run = args["dry-run"] })
      if not steps then error(uuid_or_err, 0) end
      local uuid = uuid_or_err
      for _, step in ipairs(steps) do print(step) end
      if args.create and not args["dry-run"] then
        print(string.format("mdev %s (%s) on %s for vm %d; for the VM: vgpu.lua --device %s --uuid %s --emit libvirt|qemu",
          uuid, args.type, dev.address, args.vm, dev.address, uuid))
      end
      return 0
    end
    if args.emit == "mapping" then
      if not args.mapping then error("--emit mapping needs --mapping NAME", 0) end
      proxmox.print_mapping(assert(proxmox.emit_mapping(args.mapping, { dev.address },
        { { name = "localhost", inventory = inv } }, { mdev = true })))
      return 0
    end
    if not args.type or not args.vm then error("--type and --vm: the mdev type and the VM that gets it", 0) end
    local out = assert(proxmox.emit_mdev(dev, { vm = args.vm, type = args.type }))
    if args.emit == "qm" then print(out.qm) else for _, l in ipairs(out.lines) do print(l) end end
  end,
}
