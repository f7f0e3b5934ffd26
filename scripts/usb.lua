#!/usr/bin/env ptlua
-- USB devices into and out of a running VM, over QMP: by vendor:product (refused when two
-- present devices share it), by physical port, or by serial; and what the VM has. Also what
-- QEMU will find for a match (--check) and the reset of a wedged device (--reset), via libusb.
local pt = require "pt"

return {
  name = "usb",
  description = "attach, detach and list USB devices of a running VM (QMP); check or reset a device (libusb)",
  args = {
    { name = "vm", type = "vmid", help = "the Proxmox VM (its /var/run/qemu-server/VM.qmp)" },
    { name = "socket", type = "string", help = "a QMP socket path instead of --vm" },
    { name = "attach", type = "bool", help = "attach the device matched by --id, --port or --serial" },
    { name = "detach", type = "bool", help = "detach it" },
    { name = "list", type = "bool", help = "list the USB devices the VM has" },
    { name = "check", type = "bool", help = "say what QEMU's usb-host will find for the match (libusb), attach nothing" },
    { name = "reset", type = "bool", help = "reset the matched device as a replug would (libusb), refused while a VM has it" },
    { name = "force", type = "bool", help = "with --reset: reset it even while a process has it open" },
    { name = "id", type = "usb-id", help = "match by vendor:product" },
    { name = "port", type = "usb-port", metavar = "BUS-PORT", help = "match by physical port, e.g. 1-2.3" },
    { name = "serial", type = "string", help = "match by serial number" },
    { name = "timeout-ms", type = "integer", default = 5000, help = "how long QEMU may take to answer" },
  },
  run = function(args)
    local opts = { vm = args.vm, socket = args.socket, id = args.id, port = args.port, serial = args.serial,
                   timeout_ms = args["timeout-ms"], force = args.force }
    if args.check or args.reset then
      if not (args.id or args.port or args.serial) then error("--id, --port or --serial is required", 0) end
      local d, err = (args.reset and pt.usb.reset or pt.usb.check)(opts)
      if not d then error(err, 0) end -- nil or false: err says why
      if args.check then
        print(string.format("QEMU will find %s at %s: device %d on bus %d, %s opens%s", d.id, d.port, d.devnum, d.bus,
          d.node, d.holder and string.format(" (process %d has it open now)", d.holder) or ""))
      elseif d.was_devnum ~= d.devnum then
        print(string.format("reset %s at %s: it came back as device %d on bus %d (was %d), at %s", d.id, d.port,
          d.devnum, d.bus, d.was_devnum, d.node))
      else
        print(string.format("reset %s at %s: device %d on bus %d", d.id, d.port, d.devnum, d.bus))
      end
      return
    end
    if not args.vm and not args.socket then error("--vm or --socket is required", 0) end
    if args.list then
      local list, err = pt.usb.attached(opts)
      if not list then error(err, 0) end
      for _, d in ipairs(list) do
        print(d.port and string.format("%s port %d-%s", d.id, d.bus, d.port)
          or string.format("%s %s:%s", d.id, d.vendor_id, d.product_id))
      end
      return
    end
    if not (args.id or args.port or args.serial) then error("--id, --port or --serial is required", 0) end
    local fn = args.detach and pt.usb.detach or pt.usb.attach
    local devid, err = fn(opts)
    if not devid then error(err, 0) end
    print(string.format("%s %s", args.detach and "detached" or "attached", devid))
  end,
}
