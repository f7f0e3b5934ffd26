#!/usr/bin/env ptlua
-- Keeps a USB device attached to a VM: attaches it when it appears (also after the VM
-- started), detaches it when it goes, attaches it again after a replug, follows a device that
-- re-enumerates under another id when matched by port, and attaches again when the VM
-- restarts. Acts on udev's events for the USB device, after udev has handled them.
-- A systemd unit runs it: libpt-usb-follow@100.service, with the match in
-- /etc/libpt/usb-follow-100.conf (e.g. ARGS=--match 10c4:ea60).
local pt = require "pt"

local RETRY_MS = 1000

return {
  name = "usb-follow",
  description = "keep a USB device attached to a running VM across replugs and VM restarts",
  args = {
    { name = "vm", type = "vmid", help = "the Proxmox VM (its /var/run/qemu-server/VM.qmp)" },
    { name = "socket", type = "string", help = "a QMP socket path instead of --vm" },
    { name = "match", type = "usb-id", help = "follow the device with this vendor:product" },
    { name = "port", type = "string", metavar = "BUS-PORT", help = "follow whatever is plugged into this port" },
    { name = "serial", type = "string", help = "follow the device with this serial" },
  },
  run = function(args)
    if not args.vm and not args.socket then error("--vm or --socket is required", 0) end
    if not (args.match or args.port or args.serial) then error("--match, --port or --serial is required", 0) end
    local target = { vm = args.vm, socket = args.socket }
    local function matches(d)
      if args.port then return d.port == args.port end
      if args.serial then return d.serial == args.serial end
      return d.vendor_id .. ":" .. d.product_id == args.match
    end
    -- what QEMU gets: the port when following a port or a serial, else the id
    local function spec(d)
      local s = { vm = target.vm, socket = target.socket }
      if args.match then s.id = args.match else s.port = d.port end
      return s
    end
    local attached = {} -- port -> device id in QEMU
    local function present()
      local inv = assert(pt.scan())
      local found = {}
      for _, d in ipairs(inv:usb()) do
        if matches(d) then found[#found + 1] = d end
      end
      return found
    end
    local function attach(d)
      local devid, err = pt.usb.attach(spec(d))
      if devid then
        attached[d.port] = devid
        print(string.format("attached %s (%s:%s at %s)", devid, d.vendor_id, d.product_id, d.port))
      elseif err and err:find("Duplicate", 1, true) then
        attached[d.port] = pt.usb.device_id(args.match and { id = args.match } or { port = d.port })
      else
        pt.warn(err)
      end
      return devid
    end
    local function detach(port)
      local devid = attached[port]
      attached[port] = nil
      if not devid then return end
      local ok, err = pt.usb.detach { vm = target.vm, socket = target.socket, device = devid }
      print(ok and ("detached " .. devid) or ("detach " .. devid .. ": " .. tostring(err)))
    end
    local monitor, err = pt.monitor()
    if not monitor then error(err, 0) end
    local connected = false
    while true do
      -- (re)connect: the VM may not run yet, or may have restarted
      local q = pt.qmp { vm = target.vm, socket = target.socket, timeout_ms = 2000 }
      if q then
        q:close()
        if not connected then
          connected = true
          attached = {}
          for _, d in ipairs(present()) do attach(d) end
        end
      elseif connected then
        connected = false
        print("the VM went away; waiting for it")
      end
      local event = monitor:next(RETRY_MS)
      if event and connected then
        local d = { port = event.port, vendor_id = event.vendor_id, product_id = event.product_id, serial = event.serial }
        if (event.action == "add" or event.action == "bind") and (matches(d) or (args.port and d.port == args.port)) then
          -- the serial is not in every event: look the device up
          for _, p in ipairs(present()) do
            if p.port == d.port and not attached[p.port] then attach(p) end
          end
        elseif event.action == "remove" and attached[event.port] then
          detach(event.port)
        end
      end
    end
  end,
}
