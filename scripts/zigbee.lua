#!/usr/bin/env ptlua
-- A Zigbee or Z-Wave stick for a home-automation VM (Home Assistant, zigbee2mqtt): found among
-- the USB devices by a table of known sticks, or as any CDC-ACM, CP210x, CH34x or FTDI serial
-- adapter; attached to the running VM by id, or by port when two devices share the id;
-- --follow keeps it attached across replugs and VM restarts.
local pt = require "pt"

-- Known sticks: vendor:product, and a word of their product string where the id is a generic
-- USB-serial chip's.
local STICKS = {
  { id = "10c4:ea60", product = "Sonoff Zigbee 3.0 USB Dongle Plus", name = "Sonoff ZBDongle-P" },
  { id = "1a86:55d4", product = "Sonoff", name = "Sonoff ZBDongle-E" },
  { id = "1cf1:0030", name = "ConBee II" },
  { id = "0403:6015", product = "ConBee III", name = "ConBee III" },
  { id = "10c4:ea60", product = "SkyConnect", name = "Home Assistant SkyConnect" },
  { id = "10c4:ea60", product = "ZBT-1", name = "Home Assistant Connect ZBT-1" },
  { id = "0658:0200", name = "Aeotec Z-Stick / Zooz ZST10 500 (Z-Wave)" },
  { id = "10c4:ea60", product = "ZST10", name = "Zooz ZST10 700 (Z-Wave)" },
  { id = "1a86:55d4", product = "ZST39", name = "Zooz ZST39 800 (Z-Wave)" },
  { id = "10c4:ea60", product = "Z-Stick 7", name = "Aeotec Z-Stick 7 (Z-Wave)" },
}
local SERIAL_DRIVERS = { cdc_acm = true, cp210x = true, ch341 = true, ftdi_sio = true }

local function known(d)
  local id = d.vendor_id .. ":" .. d.product_id
  for _, s in ipairs(STICKS) do
    if s.id == id and (not s.product or (d.product or ""):find(s.product, 1, true)) then return s.name end
  end
  for cls, driver in (d.interfaces or ""):gmatch("(%x%x):([%w_%-]+)") do
    if SERIAL_DRIVERS[driver] or cls == "02" then return "USB serial (" .. driver .. ")" end
  end
end

local function candidates(inv)
  local found = {}
  for _, d in ipairs(inv:usb()) do
    local name = known(d)
    if name then d.what = name; found[#found + 1] = d end
  end
  return found
end

return {
  name = "zigbee",
  description = "pass a Zigbee or Z-Wave USB stick to a running VM, by port when ids are ambiguous",
  args = {
    { name = "vm", type = "vmid", help = "the running VM" },
    { name = "socket", type = "string", help = "a QMP socket path instead of --vm" },
    { name = "stick", type = "string", metavar = "PORT|VVVV:PPPP", help = "which stick (default: the only one)" },
    { name = "list", type = "bool", help = "list the sticks found" },
    { name = "follow", type = "bool", help = "keep it attached (replugs, VM restarts) until stopped" },
    { name = "emit", type = "enum", values = { "proxmox", "qm", "libvirt", "qemu" }, help = "print the VM config instead" },
    { name = "dry-run", type = "bool", help = "print what it would send to QEMU, send nothing" },
  },
  run = function(args)
    local inv = assert(pt.scan())
    local sticks = candidates(inv)
    if args.list then
      for _, d in ipairs(sticks) do
        print(string.format("%-8s %s:%s %s%s%s", d.port, d.vendor_id, d.product_id, d.what,
          d.serial and (" serial " .. d.serial) or "", d.node and (" " .. d.node) or ""))
      end
      if #sticks == 0 then print("no Zigbee, Z-Wave or USB serial stick found") end
      return
    end
    local chosen = {}
    for _, d in ipairs(sticks) do
      if not args.stick or args.stick == d.port or args.stick:lower() == d.vendor_id .. ":" .. d.product_id then
        chosen[#chosen + 1] = d
      end
    end
    if #chosen == 0 then error("no stick" .. (args.stick and (" matches " .. args.stick) or " found"), 0) end
    if #chosen > 1 and not (args.stick and args.stick:match("^%d+%-")) then
      local ports = {}
      for i, d in ipairs(chosen) do ports[i] = d.port end
      error("several sticks (ports " .. table.concat(ports, ", ") .. "): choose one with --stick PORT", 0)
    end
    local d = chosen[1]
    local id = d.vendor_id .. ":" .. d.product_id
    local same = 0
    for _, u in ipairs(inv:usb()) do
      if u.vendor_id .. ":" .. u.product_id == id then same = same + 1 end
    end
    -- by port when another device shares the id
    local match = same > 1 and { port = d.port } or { id = id }
    if args.emit then
      if args.emit == "proxmox" or args.emit == "qm" then
        if not args.vm then error("--vm is required with --emit " .. args.emit, 0) end
        local r = assert(require("pt.proxmox").emit_usb { vm = args.vm, id = match.id, port = match.port })
        print(args.emit == "qm" and r.qm or table.concat(r.lines, "\n"))
      elseif args.emit == "libvirt" then
        print((assert(pt.emit_libvirt({}, match.id and { id = match.id } or { bus = d.bus, device = d.devnum }))))
      else
        print(pt.shell_quote(assert(pt.emit_qemu({}, match))))
      end
      return
    end
    if not args.vm and not args.socket then error("--vm or --socket is required", 0) end
    local devid = pt.usb.device_id(match)
    if args["dry-run"] then
      print(string.format("device_add usb-host id=%s %s (%s at %s)", devid,
        match.port and ("hostbus=" .. d.bus .. " hostport=" .. match.port:match("%-(.*)$")) or
        ("vendorid=0x" .. d.vendor_id .. " productid=0x" .. d.product_id), d.what, d.port))
      return
    end
    if args.follow then
      return pt.usb.follow { vm = args.vm, socket = args.socket, match = match.id, port = match.port }
    end
    local ok, err = pt.usb.attach { vm = args.vm, socket = args.socket, id = match.id, port = match.port }
    if not ok then error(err, 0) end
    print(string.format("attached %s: %s at %s", ok, d.what, d.port))
  end,
}
