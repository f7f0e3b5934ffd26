#!/usr/bin/env ptlua
-- Keeps a USB device attached to a VM: attaches it when it appears (also after the VM
-- started), detaches it when it goes, attaches it again after a replug, follows a device that
-- re-enumerates under another id when matched by port (on either half of the physical port),
-- and attaches again when the VM restarts. With --behind, a port with a hub behind it: each
-- device behind the hub is attached by its own port as it appears (QEMU cannot pass a hub). Acts on udev's events for the USB device, after udev has handled them.
-- A systemd unit runs it: libpt-usb-follow@100.service, with the match in
-- /etc/libpt/usb-follow-100.conf (e.g. ARGS=--match 10c4:ea60).
local pt = require "pt"


return {
  name = "usb-follow",
  description = "keep a USB device attached to a running VM across replugs and VM restarts",
  args = {
    { name = "vm", type = "vmid", help = "the Proxmox VM (its /var/run/qemu-server/VM.qmp)" },
    { name = "socket", type = "string", help = "a QMP socket path instead of --vm" },
    { name = "match", type = "usb-id", help = "follow the device with this vendor:product" },
    { name = "port", type = "usb-port", metavar = "BUS-PORT", help = "follow whatever is plugged into this port" },
    { name = "behind", type = "bool", help = "with --port: also every device behind a hub plugged into it, each attached by its own port" },
    { name = "serial", type = "string", help = "follow the device with this serial" },
  },
  run = function(args)
    if not args.vm and not args.socket then error("--vm or --socket is required", 0) end
    if not (args.match or args.port or args.serial) then error("--match, --port or --serial is required", 0) end
    if args.behind and not args.port then error("--behind needs --port", 0) end
    pt.usb.follow(args)
  end,
}
