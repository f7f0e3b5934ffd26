#!/usr/bin/env ptlua
-- The boot-time host configuration for a device's passthrough set: modprobe.d (softdeps, ids=
-- or a udev rule by address), initramfs modules, the kernel command line; diffs, or --apply.
local persist = require "pt.persist"
local passthrough = require "pt.passthrough"

return {
  name = "persist",
  description = "make a device go to vfio-pci at every boot (modprobe.d, initramfs, kernel command line)",
  args = {
    { name = "device", type = "pci-addr", required = true, help = "the device (its whole passthrough set)" },
    { name = "blacklist", type = "bool", help = "also blacklist the host drivers" },
    { name = "apply", type = "bool", help = "write the files (keeping backups) instead of showing diffs" },
    { name = "dry-run", type = "bool", help = "show the diffs (the default)" },
    { name = "force", type = "bool", help = "a device the host needs too (see the refusal)" },
  },
  run = function(args)
    local inv = passthrough.scan()
    local a = passthrough.assign(inv, { args.device }, args)
    persist.show(inv, a, { blacklist = args.blacklist, apply = args.apply and not args["dry-run"] })
  end,
}
