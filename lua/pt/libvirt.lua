-- libvirt: <hostdev> elements for PCI devices (managed='yes': libvirt detaches and reattaches
-- them), USB devices and existing mediated devices, as a fragment for `virsh attach-device` or
-- inside a minimal domain. libpt's C emitter (pt_emit_libvirt) writes them; this binds it.
local pt = require "pt"

local M = {}

function M.pci_hostdev(address)
  return pt.emit_libvirt({ address })
end

-- An existing mediated device, by its UUID.
function M.mdev_hostdev(uuid)
  return pt.emit_mdev("libvirt", uuid)
end

-- usb: {id = "10c4:ea60"} or {bus = 1, device = 5}
function M.usb_hostdev(usb)
  return pt.emit_libvirt({}, usb)
end

function M.fragment(addresses, usb)
  return pt.emit_libvirt(addresses or {}, usb)
end

-- A complete minimal domain around the hostdevs: q35, UEFI, enough to validate and boot.
function M.domain(name, addresses, usb)
  return pt.emit_libvirt(addresses or {}, usb, tostring(name))
end

return M
