#!/usr/bin/env ptlua
-- Takes a device, with its whole passthrough set, from the host for a VM: driver_override to
-- vfio-pci, unbind, probe, and a journal under /run/libpt that restore.lua (or a later run
-- after a crash) uses to give every device back.
local passthrough = require "pt.passthrough"

return {
  name = "bind",
  description = "bind a device and the rest of its passthrough set to vfio-pci for a VM",
  args = {
    { name = "device", type = "pci-addr", required = true, help = "the device to pass through" },
    { name = "vm", type = "vmid", required = true, help = "the VM that gets it" },
    { name = "dry-run", type = "bool", help = "print every write it would make, write nothing" },
    { name = "force", type = "bool", help = "take it even when the host needs it (see the refusal)" },
    { name = "timeout-ms", type = "integer", default = 5000, help = "how long a driver may take to bind" },
    { name = "lock-timeout-ms", type = "integer", default = 60000,
      help = "how long to wait for another VM's transaction to finish" },
    { name = "driver", type = "enum", values = { "vfio-pci", "variant" }, default = "vfio-pci",
      help = "vfio-pci, or each device's vfio-pci variant driver where it has one (mlx5_vfio_pci...)" },
  },
  run = function(args)
    local _, dev = passthrough.device(args.device)
    passthrough.bind({ dev }, args)
  end,
}
