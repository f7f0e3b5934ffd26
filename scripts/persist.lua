#!/usr/bin/env ptlua
-- The boot-time host configuration for a device's passthrough set, with every set persisted
-- before (a second GPU adds to ids=; --remove takes a set out again): modprobe.d (softdeps, ids=
-- or a udev rule by address, blacklists only of drivers no device staying on the host uses),
-- initramfs modules, the kernel command line; diffs, or --apply.
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
    { name = "remove", type = "bool", help = "take the set out of the boot-time setup (the others stay)" },
    { name = "no-d3cold", type = "bool",
      help = "keep the set's devices out of D3cold (a udev rule; a GPU there may not wake for the next VM)" },
  },
  run = function(args)
    local inv = passthrough.scan()
    local a
    if args.remove then
      -- taking a set out gives nothing to a VM: no guard
      local err
      a, err = require("pt").assign(inv, { args.device }, { force = true })
      if not a then error(err, 0) end
    else
      a = passthrough.assign(inv, { args.device }, args)
    end
    persist.show(inv, a, { blacklist = args.blacklist, remove = args.remove, no_d3cold = args["no-d3cold"],
      apply = args.apply and not args["dry-run"] })
  end,
}
