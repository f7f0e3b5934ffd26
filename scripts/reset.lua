#!/usr/bin/env ptlua
-- Resets a device the way a VM's start would (sysfs `reset`: the kernel tries reset_method's
-- methods in order), for a device left wedged by a VM: only one bound to vfio-pci or to no
-- driver, and no VM holding it.
local pt = require "pt"

return {
  name = "reset",
  description = "reset a device bound to vfio-pci or to no driver (sysfs reset)",
  args = {
    { name = "device", type = "pci-addr", required = true, help = "the device to reset" },
    { name = "dry-run", type = "bool", help = "print the write it would make, write nothing" },
  },
  run = function(args)
    local inv, err = pt.scan({ devices = { args.device } })
    if not inv then error(err, 0) end
    local dev
    dev, err = inv:device(args.device)
    if not dev then error(err, 0) end
    if args["dry-run"] then
      -- every decision the reset makes: what it would refuse, the dry run refuses
      local step
      step, err = dev:reset { dry_run = true }
      if not step then error(err, 0) end
      print(step)
      return 0
    end
    local method
    method, err = dev:reset()
    if not method then error(err, 0) end
    print(string.format("reset %s (%s)", dev.address, method))
  end,
}
