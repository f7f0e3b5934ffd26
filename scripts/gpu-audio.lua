#!/usr/bin/env ptlua
-- A GPU for a VM, with its audio and USB-C (UCSI) functions. As a Proxmox hookscript
-- (hookscript: local:snippets/gpu-audio.lua) it binds them at pre-start and gives them back
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
    -- in every VM's start path: read the GPU's devices and what they need, not the whole host
    local ids = args.gpu and { args.gpu } or passthrough.config_ids(args.config)
    if #ids == 0 then error("no GPU among the VM's hostpci lines; set the gpu default in the script", 0) end
    local inv, err = pt.scan { devices = ids }
    if not inv then error(err, 0) end
    local gpu
    if args.gpu then
      gpu = find_gpu(inv, args.gpu)
    else
      for _, d in ipairs(passthrough.config_addresses(inv, args.config)) do
        if passthrough.is_gpu(d) then gpu = gpu or d end
      end
      if not gpu then error("no GPU among the VM's hostpci lines; set the gpu default in the script", 0) end
    end
    passthrough.bind(devices_of(inv, gpu, args.force), { vm = hook.vm, force = args.force })
  end,
  ["post-stop"] = function(args, hook)
    local given, err = pt.restore { vm = hook.vm }
    if not given then error(err, 0) end
    print(#given > 0 and ("gave back " .. table.concat(given, " ")) or "nothing to give back")
  end,
}
