-- QEMU command-line arguments that stand on their own: the pcie-root-port (or USB
-- controller) they attach to comes with them, so they work appended to `-machine q35`.
-- libpt's C emitter (pt_emit_qemu) writes them; this binds it.
local pt = require "pt"

local M = {}

-- addresses: a passthrough set; function 0 of each slot first, with multifunction=on when
-- the slot brings several. opts: primary (the address with x-vga=on), rombar (false:
-- rombar=0), romfile.
function M.vfio_args(addresses, opts)
  opts = opts or {}
  return pt.emit_qemu(addresses, nil, { primary = opts.primary, rombar = opts.rombar, romfile = opts.romfile })
end

-- An existing mediated device, by its UUID.
function M.mdev_args(uuid)
  return pt.emit_mdev("qemu", uuid)
end

-- usb: {id = "10c4:ea60"} or {port = "1-2.3"}; a qemu-xhci controller comes with it.
function M.usb_args(usb)
  return pt.emit_qemu({}, usb)
end

-- One shell line from argument words.
M.shell = pt.shell_quote

return M
