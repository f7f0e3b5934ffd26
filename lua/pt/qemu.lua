-- QEMU command-line arguments that stand on their own: the pcie-root-port (or USB
-- controller) they attach to comes with them, so they work appended to `-machine q35`.
local M = {}

local function fail(fmt, ...) error(string.format(fmt, ...), 0) end

-- addresses: a passthrough set; function 0 of each slot first, with multifunction=on when
-- the slot brings several. opts: primary (x-vga=on on the GPU), rombar (false: rombar=0),
-- romfile.
function M.vfio_args(addresses, opts)
  opts = opts or {}
  local slots, order = {}, {}
  for _, a in ipairs(addresses) do
    if not a:match("^%x+:%x%x:%x%x%.%x$") then fail("%q is not a PCI address", tostring(a)) end
    local slot = require("pt").slot(a)
    if not slots[slot] then slots[slot] = {}; order[#order + 1] = slot end
    table.insert(slots[slot], a)
  end
  local args = {}
  for i, slot in ipairs(order) do
    local port = "pt-port" .. (i - 1)
    args[#args + 1] = "-device"
    args[#args + 1] = string.format("pcie-root-port,id=%s,chassis=%d,slot=%d", port, 100 + i, i)
    local functions = slots[slot]
    table.sort(functions)
    for _, a in ipairs(functions) do
      local fn = tonumber(a:sub(-1), 16)
      local props = { "vfio-pci", "host=" .. a, "bus=" .. port, string.format("addr=0x0.%x", fn) }
      if fn == 0 and #functions > 1 then props[#props + 1] = "multifunction=on" end
      if opts.primary and a == opts.primary then props[#props + 1] = "x-vga=on" end
      if opts.rombar == false then props[#props + 1] = "rombar=0" end
      if opts.romfile then
        if opts.romfile:find("[,%c]") then fail("romfile %q: no commas or control characters", opts.romfile) end
        props[#props + 1] = "romfile=" .. opts.romfile
      end
      args[#args + 1] = "-device"
      args[#args + 1] = table.concat(props, ",")
    end
  end
  return args
end

-- usb: {id = "10c4:ea60"} or {port = "1-2.3"}; a qemu-xhci controller comes with it.
-- An existing mediated device, by its UUID.
function M.mdev_args(uuid)
  if type(uuid) ~= "string" or not require("pt").uuid_valid(uuid) then
    fail("%q: not an mdev UUID", tostring(uuid))
  end
  return { "-device", "vfio-pci,sysfsdev=/sys/bus/mdev/devices/" .. uuid }
end

function M.usb_args(usb)
  local props = { "usb-host", "bus=pt-xhci.0" }
  if usb.port then
    local bus, port = tostring(usb.port):match("^(%d+)%-([%d%.]+)$")
    if not bus or port:match("%.%.") or port:match("%.$") then fail("USB port %q: expected BUS-PORT(.PORT)*", tostring(usb.port)) end
    props[#props + 1] = "hostbus=" .. bus
    props[#props + 1] = "hostport=" .. port
  else
    local v, p = tostring(usb.id):lower():match("^(%x%x%x%x):(%x%x%x%x)$")
    if not v then fail("USB id %q: expected VVVV:PPPP", tostring(usb.id)) end
    props[#props + 1] = "vendorid=0x" .. v
    props[#props + 1] = "productid=0x" .. p
  end
  return { "-device", "qemu-xhci,id=pt-xhci", "-device", table.concat(props, ",") }
end

-- One shell line from argument words.
function M.shell(args)
  local out = {}
  for i, a in ipairs(args) do
    out[i] = a:match("^[%w%-_=,.:/]+$") and a or ("'" .. a:gsub("'", "'\\''") .. "'")
  end
  return table.concat(out, " ")
end

return M
