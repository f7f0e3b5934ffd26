#!/usr/bin/env ptlua
-- A whole USB controller for a VM (every port, hot-plug included, without QMP), listing what
-- hangs under it; the controller of the only keyboard is refused (the guard).
local passthrough = require "pt.passthrough"

return {
  name = "usb-controller",
  description = "pass a whole USB controller to a VM, listing the devices on it",
  args = passthrough.args {
    { name = "device", type = "pci-addr", required = true, help = "the USB controller" },
  },
  run = function(args)
    local inv, dev = passthrough.device(args.device, "USB controller", { "usb" })
    local on = 0
    for _, u in ipairs(inv:usb()) do
      if u.controller == dev.address then
        on = on + 1
        print(string.format("%s takes %s [%s:%s] %s", dev.address, u.port, u.vendor_id, u.product_id,
          u.product or u.product_name or "?"))
      end
    end
    if on == 0 then print(dev.address .. ": nothing plugged in") end
    if args.emit then return passthrough.emit(inv, { dev }, args) end
    passthrough.bind({ dev }, args) -- the guard is the bind's assignment
  end,
}
