-- libvirt: <hostdev> elements for PCI devices (managed='yes': libvirt detaches and reattaches
-- them) and USB devices, as a fragment for `virsh attach-device` or inside a minimal domain.
local M = {}

local function fail(fmt, ...) error(string.format(fmt, ...), 0) end

local function xml_escape(s)
  return (tostring(s):gsub("[&<>'\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
    ["'"] = "&apos;", ['"'] = "&quot;" }))
end

function M.pci_hostdev(address, indent)
  local dom, bus, slot, fn = address:match("^(%x+):(%x%x):(%x%x)%.(%x)$")
  if not dom then fail("%q is not a PCI address", tostring(address)) end
  local p = indent or ""
  return table.concat({
    p .. "<hostdev mode='subsystem' type='pci' managed='yes'>",
    p .. "  <source>",
    string.format("%s    <address domain='0x%s' bus='0x%s' slot='0x%s' function='0x%s'/>", p, dom, bus, slot, fn),
    p .. "  </source>",
    p .. "</hostdev>",
  }, "\n")
end

-- usb: {id = "10c4:ea60"} or {bus = 1, device = 5}
-- An existing mediated device, by its UUID.
function M.mdev_hostdev(uuid, indent)
  if type(uuid) ~= "string" or not require("pt").uuid_valid(uuid) then
    fail("%q: not an mdev UUID", tostring(uuid))
  end
  local i = indent or ""
  return table.concat({
    i .. "<hostdev mode='subsystem' type='mdev' model='vfio-pci'>",
    i .. "  <source>",
    i .. "    <address uuid='" .. uuid .. "'/>",
    i .. "  </source>",
    i .. "</hostdev>",
  }, "\n")
end

function M.usb_hostdev(usb, indent)
  local p = indent or ""
  local source
  if usb.id then
    local v, d = tostring(usb.id):lower():match("^(%x%x%x%x):(%x%x%x%x)$")
    if not v then fail("USB id %q: expected VVVV:PPPP", tostring(usb.id)) end
    source = { string.format("%s    <vendor id='0x%s'/>", p, v), string.format("%s    <product id='0x%s'/>", p, d) }
  else
    local bus, dev = math.tointeger(usb.bus), math.tointeger(usb.device)
    if not bus or not dev then fail("a USB device needs an id or a bus and device number") end
    source = { string.format("%s    <address bus='%d' device='%d'/>", p, bus, dev) }
  end
  return table.concat({ p .. "<hostdev mode='subsystem' type='usb' managed='yes'>", p .. "  <source>",
    table.concat(source, "\n"), p .. "  </source>", p .. "</hostdev>" }, "\n")
end

function M.fragment(addresses, usb)
  local parts = {}
  for _, a in ipairs(addresses or {}) do parts[#parts + 1] = M.pci_hostdev(a) end
  if usb then parts[#parts + 1] = M.usb_hostdev(usb) end
  return table.concat(parts, "\n")
end

-- A complete minimal domain around the hostdevs: q35, UEFI, enough to validate and boot.
function M.domain(name, addresses, usb, opts)
  opts = opts or {}
  if not tostring(name):match("^[%w][%w%-_%.]*$") then fail("domain name %q: letters, digits, '-', '_', '.'", tostring(name)) end
  local devices = {}
  for _, a in ipairs(addresses or {}) do devices[#devices + 1] = M.pci_hostdev(a, "    ") end
  if usb then devices[#devices + 1] = M.usb_hostdev(usb, "    ") end
  return table.concat({
    "<domain type='kvm'>",
    "  <name>" .. xml_escape(name) .. "</name>",
    string.format("  <memory unit='MiB'>%d</memory>", opts.memory or 4096),
    string.format("  <vcpu>%d</vcpu>", opts.vcpus or 4),
    "  <os firmware='efi'>",
    "    <type arch='x86_64' machine='q35'>hvm</type>",
    "  </os>",
    "  <features>",
    "    <acpi/>",
    "    <apic/>",
    "  </features>",
    "  <cpu mode='host-passthrough'/>",
    "  <devices>",
    table.concat(devices, "\n"),
    "  </devices>",
    "</domain>",
  }, "\n")
end

return M
