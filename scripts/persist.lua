#!/usr/bin/env ptlua
-- The boot-time host configuration for a device's passthrough set: modprobe.d (softdeps, ids=
-- or a udev rule by address), initramfs modules, the kernel command line; diffs, or --apply.
local pt = require "pt"
local persist = require "pt.persist"

return {
  name = "persist",
  description = "make a device go to vfio-pci at every boot (modprobe.d, initramfs, kernel command line)",
  args = {
    { name = "device", type = "pci-addr", required = true, help = "the device (its whole passthrough set)" },
    { name = "blacklist", type = "bool", help = "also blacklist the host drivers" },
    { name = "apply", type = "bool", help = "write the files (keeping backups) instead of showing diffs" },
    { name = "dry-run", type = "bool", help = "show the diffs (the default)" },
  },
  run = function(args)
    local inv, err = pt.scan()
    if not inv then error(err, 0) end
    local dev
    dev, err = inv:device(args.device)
    if not dev then error(err, 0) end
    local records = {}
    for i, m in ipairs(dev.passthrough_set) do records[i] = m:fields() end
    if #records == 0 then error(string.format("%s: %s: nothing to pass through", dev.address, dev.verdict), 0) end
    persist.show(inv, records, { blacklist = args.blacklist, apply = args.apply and not args["dry-run"] })
  end,
}
