-- Proxmox VE: VM configs (/etc/pve/qemu-server/<vmid>.conf), hostpciN/usbN lines, the VM
-- settings passthrough needs and `qm set` commands (all in libpt's C API: pt_vmconf_*,
-- pt_emit_proxmox*; this module binds them), cluster resource mappings, and the lint of
-- existing configs. The grammar is qemu-server's (PVE/QemuServer.pm and PVE/QemuServer/PCI.pm).
-- As liolib: a failure (a refused value, a device not there) returns nil, the message and the
-- errno; a misuse (a VM id that is none) raises.
local pt = require "pt"

local M = {}

local function fail(fmt, ...) error(string.format(fmt, ...), 0) end

-- Values that go into a config line: nothing that could start another key or line.
function M.check_value(what, value)
  return pt.config_value(what, value)
end

function M.check_vmid(vm)
  local n = pt.vmid(math.type(vm) == "integer" and vm or tostring(vm))
  if not n then fail("VM id '%s': must be 100 to 999999999", tostring(vm)) end
  return n
end

-- "host=01:00,pcie=1" (or "01:00,pcie=1" with the default key) -> { {key, value}... }, map
M.parse_props = pt.props_parse

function M.format_props(list)
  local out = {}
  for _, kv in ipairs(list) do
    out[#out + 1] = kv[1] and (kv[1] .. "=" .. kv[2]) or kv[2]
  end
  return table.concat(out, ",")
end

-- A VM config: { main = {keys = {...}, values = {}}, snapshots = {name = true},
-- description = text, handle = the C object }.
M.parse_config = pt.vmconf_parse

-- A VM's config under the root (a regular file only: nothing blocks), or nil and its path.
function M.read_config(vm)
  return pt.vmconf_read(M.check_vmid(vm))
end

-- dev: a device (its passthrough set) or an assignment (pt.assign). opts: vm, primary (an
-- address, or true for the device's own: x-vga and vga none), rombar (false: rombar=0), romfile,
-- hide_kvm, machine (default q35), storage (for the efidisk), legacy_igd, config
-- (M.parse_config's), force (a host-critical member too). Returns { lines = {...}, notes = {...},
-- qm = "qm set ..." }.
function M.emit(dev, opts)
  local vm = M.check_vmid(opts.vm)
  local primary = opts.primary
  if primary == true then primary = dev.address end
  return pt.emit_proxmox(dev, { vm = vm, primary = primary or nil, rombar = opts.rombar, force = opts.force,
    romfile = opts.romfile, hide_kvm = opts.hide_kvm, machine = opts.machine, storage = opts.storage,
    legacy_igd = opts.legacy_igd, config = opts.config, place = opts.place })
end

-- A mediated device (vGPU) of a parent's type: Proxmox creates the mdev itself at VM start
-- (hostpciN: ADDRESS,mdev=TYPE). opts: vm, type, config. The type must be one the parent offers.
function M.emit_mdev(dev, opts)
  return pt.emit_proxmox_mdev(dev, opts.type, { vm = M.check_vmid(opts.vm), config = opts.config })
end

-- A USB device: by vid:pid, or by port when ids are ambiguous or the device re-enumerates.
function M.emit_usb(opts)
  local vm = M.check_vmid(opts.vm)
  return pt.emit_proxmox_usb({ id = opts.id and tostring(opts.id) or nil, port = opts.port, peer_port = opts.peer_port },
    { vm = vm, usb3 = opts.usb3, config = opts.config })
end

-- Cluster mappings (/etc/pve/mapping/pci.cfg) for a passthrough set, written by libpt's C
-- emitter (pt_emit_mapping: one mapping a slot in the slot form when the set holds the whole
-- slot, one a function otherwise; each node's devices of the same kind as map lines).
-- set: the set's addresses (or records) on this node, or an assignment; nodes: the first is this node, each
-- { name =, inventory = inv } (a scan), { name =, report = FILE } (report.lua --json) or
-- { name =, devices = records } (a published report's). opts.mdev: the devices provide mediated
-- devices (`mdev 1`). Returns { lines, notes }.
function M.emit_mapping(name, set, nodes, opts)
  local cnodes = {}
  for i, node in ipairs(nodes) do
    local n, err, errno = node.node, nil, nil -- a published report already read (pt.cluster)
    if not n then n, err, errno = pt.node(node.name) end
    local ok = n
    if node.node then -- its devices are in it
    elseif not n then
    elseif node.inventory then ok, err, errno = n:add_inventory(node.inventory)
    elseif node.report then ok, err, errno = n:read_report(node.report)
    else
      for _, d in ipairs(node.devices) do
        ok, err, errno = n:add(d)
        if not ok then break end
      end
    end
    if not ok then return nil, err, errno end
    cnodes[i] = n
  end
  local addresses = set -- an assignment (pt.assign) is passed as it is: checked by the emitter
  if type(set) == "table" then
    addresses = {}
    for i, d in ipairs(set) do addresses[i] = type(d) == "table" and d.address or d end
  end
  return pt.emit_mapping(name, addresses, cnodes, { mdev = opts and opts.mdev or false })
end

-- The mapping as it is printed: the pci.cfg sections, then the VM's lines.
function M.print_mapping(r)
  print("# /etc/pve/mapping/pci.cfg")
  print(table.concat(r.lines, "\n"))
  for _, n in ipairs(r.notes) do print("# " .. n) end
end

-- USB mappings (/etc/pve/mapping/usb.cfg): a map line a node, by id (or by port path).
-- Returns { lines, notes }.
function M.emit_usb_mapping(name, usb, nodes)
  return pt.emit_usb_mapping(name, { id = usb.id and tostring(usb.id) or nil, port = usb.port, peer_port = usb.peer_port },
    nodes)
end

-- Findings on every VM config under /etc/pve/qemu-server, or the one of `only`: libpt's lint
-- (pt_lint_run), { {vm =, key =, code =, message =}... } sorted by VM, key and message.
function M.lint(inv, only)
  return pt.lint(inv, only)
end

return M
