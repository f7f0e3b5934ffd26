-- Proxmox VE: VM configs (/etc/pve/qemu-server/<vmid>.conf), hostpciN/usbN lines, the VM
-- settings passthrough needs and `qm set` commands (all in libpt's C API: pt_vmconf_*,
-- pt_emit_proxmox*; this module binds them), cluster resource mappings, and the lint of
-- existing configs. The grammar is qemu-server's (see DESIGN.md).
local pt = require "pt"

local M = {}

local function fail(fmt, ...) error(string.format(fmt, ...), 0) end

-- Values that go into a config line: nothing that could start another key or line.
function M.check_value(what, value)
  return pt.config_value(what, value)
end

function M.check_vmid(vm)
  local n = math.tointeger(tonumber(vm))
  if not n or not pt.vmid_valid(n) then fail("VM id %s: must be 100 to 999999999", tostring(vm)) end
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
function M.read_config(root, vm)
  return pt.vmconf_read(M.check_vmid(vm))
end

local function is_q35(machine)
  return machine and machine:find("q35") ~= nil
end

-- The lint of a hostpci line with legacy-igd=1, by the rules emission follows
-- (pt_emit_proxmox with PT_EMIT_LEGACY_IGD): the device at 00:02.0 alone, machine i440fx,
-- vga none, the ROM BAR on.
local IGD = "0000:00:02.0"

function M.lint_legacy_igd(map, values, note)
  local host = map.host or ""
  local full = host:match("^%x+:%x%x:%x%x") and host or "0000:" .. host
  if host:find(";") or full ~= IGD then
    note("legacy-igd=1 passes the integrated GPU alone: host=%s (not %s)", IGD, host)
  end
  if is_q35(values.machine or "pc") then note("legacy-igd=1 needs machine i440fx (machine: %s)", values.machine) end
  if values.vga ~= "none" then note("legacy-igd=1 needs vga: none (vga: %s)", values.vga or "default") end
  if map.rombar == "0" then note("legacy-igd=1 needs the ROM BAR (rombar=0 here)") end
end

-- opts: vm, primary (x-vga and vga none), rombar (false: rombar=0), romfile, hide_kvm,
-- machine (default q35), storage (for the efidisk), legacy_igd, config (M.parse_config's).
-- Returns { lines = {...}, notes = {...}, qm = "qm set ..." }.
function M.emit(inv, dev, opts)
  local vm = M.check_vmid(opts.vm)
  return pt.emit_proxmox(dev, { vm = vm, primary = opts.primary and dev.address or nil, rombar = opts.rombar,
    romfile = opts.romfile, hide_kvm = opts.hide_kvm, machine = opts.machine, storage = opts.storage,
    legacy_igd = opts.legacy_igd, config = opts.config })
end

-- A mediated device (vGPU) of a parent's type: Proxmox creates the mdev itself at VM start
-- (hostpciN: ADDRESS,mdev=TYPE). opts: vm, type, config. The type must be one the parent offers.
function M.emit_mdev(dev, opts)
  return pt.emit_proxmox_mdev(dev, opts.type, { vm = M.check_vmid(opts.vm), config = opts.config })
end

-- A USB device: by vid:pid, or by port when ids are ambiguous or the device re-enumerates.
function M.emit_usb(opts)
  local vm = M.check_vmid(opts.vm)
  return pt.emit_proxmox_usb({ id = opts.id and tostring(opts.id) or nil, port = opts.port },
    { vm = vm, usb3 = opts.usb3, config = opts.config })
end

-- A node's device as it arrives from elsewhere (a published report's row): every value that
-- goes into pci.cfg checked (pt_node_add_device), JSON nulls as nil.
function M.checked_device(node, d)
  local null = require("pt.json").null
  if d.iommu_group == null then d.iommu_group = nil end
  if d.physfn == null then d.physfn = nil end
  pt.node(node):add(d)
  return d
end

-- Cluster mappings (/etc/pve/mapping/pci.cfg) for a passthrough set, written by libpt's C
-- emitter (pt_emit_mapping: one mapping a slot in the slot form when the set holds the whole
-- slot, one a function otherwise; each node's devices of the same kind as map lines).
-- set: the set's addresses (or records) on this node; nodes: the first is this node, each
-- { name =, inventory = inv } (a scan), { name =, report = FILE } (report.lua --json) or
-- { name =, devices = records } (a published report's). Returns { lines, notes }.
function M.emit_mapping(name, set, nodes)
  local cnodes = {}
  for i, node in ipairs(nodes) do
    local n = pt.node(node.name)
    if node.inventory then n:add_inventory(node.inventory)
    elseif node.report then n:read_report(node.report)
    else for _, d in ipairs(node.devices) do n:add(d) end end
    cnodes[i] = n
  end
  local addresses = {}
  for i, d in ipairs(set) do addresses[i] = type(d) == "table" and d.address or d end
  return pt.emit_mapping(name, addresses, cnodes)
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
  return pt.emit_usb_mapping(name, { id = usb.id and tostring(usb.id) or nil, port = usb.port }, nodes)
end

-- The mapping names of /etc/pve/mapping/pci.cfg.
function M.read_mappings(root)
  local names = {}
  local text = require("pt").read_file("/etc/pve/mapping/pci.cfg")
  for line in (text or ""):gmatch("[^\n]+") do
    local name = line:match("^([%a][%w%-_]*)%s*$")
    if name then names[name] = true end
  end
  return names
end

-- A hostpci line's romfile=: there, a ROM, for the device it is given to (Proxmox passes it
-- with the first function), with an EFI image where the VM boots OVMF.
function M.lint_romfile(dev, map, values, note)
  local pt = require "pt"
  local name = map.romfile
  if not pt.romfile_name_valid(name) then
    return note("romfile %s: not a file name in /usr/share/kvm", name)
  end
  local data, err = pt.read_romfile(name)
  if not data then return note("romfile %s: %s: the VM cannot start", name, err) end
  local info
  if dev then info, err = pt.rom_parse(data, dev.vendor_id, dev.device_id) else info, err = pt.rom_parse(data) end
  if not info then return note("romfile %s: %s", name, err) end
  if info.problem then note("romfile %s: %s", name, info.problem) end
  if info.start > 0 then
    note("romfile %s: %d bytes before its first image (a flashing tool's header): QEMU needs the image alone (rom.lua --file %s --save NAME)",
      name, info.start, name)
  end
  local efi = false
  for i, img in ipairs(info.images) do
    efi = efi or img.code_type == 3
    if dev and not img.matches then
      note("romfile %s: image %d is for %s:%s, not for %s (%04x:%04x)", name, i, img.vendor_id, img.device_id,
        dev.address, dev.vendor_id, dev.device_id)
    end
  end
  if not efi and values.bios == "ovmf" then
    note("romfile %s has no EFI image: with bios: ovmf the screen stays dark until the guest's driver loads", name)
  end
end

-- Findings on every VM config under /etc/pve/qemu-server, or the one of `only`.
function M.lint(inv, root, only)
  local dir = (root == "/" and "" or root) .. "/etc/pve/qemu-server"
  local findings, used = {}, {}
  local function note(vm, key, fmt, ...)
    findings[#findings + 1] = { vm = vm, key = key, message = string.format(fmt, ...) }
  end
  local pt = require "pt"
  local vms = {}
  for _, name in ipairs(pt.listdir("/etc/pve/qemu-server") or {}) do
    local vm = math.tointeger(tonumber(name:match("^(%d+)%.conf$")))
    if vm then vms[#vms + 1] = vm end
  end
  table.sort(vms)
  local mappings = M.read_mappings(root)
  -- vid:pid of the USB devices present, counted
  local usb_count = {}
  for _, name in ipairs(pt.listdir("/sys/bus/usb/devices") or {}) do
    local base = "/sys/bus/usb/devices/" .. name
    local v = (pt.read_file(base .. "/idVendor") or ""):match("^(%x%x%x%x)%s*$")
    local p = (pt.read_file(base .. "/idProduct") or ""):match("^(%x%x%x%x)%s*$")
    if v and p then -- a missing, empty or garbled id is no device to count
      local id = v:lower() .. ":" .. p:lower()
      usb_count[id] = (usb_count[id] or 0) + 1
    end
  end
  for _, vm in ipairs(vms) do
    local config = M.read_config(root, vm)
    local v = config.main.values
    local hostpci_set = {}
    for _, key in ipairs(config.main.keys) do
      if key:match("^hostpci%d+$") then
        local props, map = M.parse_props(v[key], "host")
        if map.pcie == "1" and not is_q35(v.machine) then
          note(vm, key, "pcie=1 needs machine q35 (machine: %s)", v.machine or "i440fx, the default")
        end
        if map["x-vga"] == "1" and (v.bios or "seabios") ~= "ovmf" then
          note(vm, key, "x-vga=1 with SeaBIOS: a primary GPU wants bios: ovmf (UEFI), as most current cards have no legacy VGA BIOS")
        end
        if map.mapping and not mappings[map.mapping] then
          note(vm, key, "mapping %s is not in /etc/pve/mapping/pci.cfg", map.mapping)
        end
        local first -- the device the romfile goes with: the line's first (Proxmox's j == 0)
        for id in (map.host or ""):gmatch("[^;]+") do
          local full = id:match("^%x+:%x%x:%x%x") and id or "0000:" .. id
          local matched = false
          for d in inv:devices() do
            if d.address == full or require("pt").slot(d.address) == full then
              matched = true
              first = first or d
              hostpci_set[d.address] = key
              used[d.address] = used[d.address] or {}
              table.insert(used[d.address], vm)
            end
          end
          if not matched then note(vm, key, "host %s: no such PCI device on this host", id) end
        end
        if map.romfile then M.lint_romfile(first, map, v, function(...) note(vm, key, ...) end) end
        if map["legacy-igd"] == "1" then M.lint_legacy_igd(map, v, function(...) note(vm, key, ...) end) end
      elseif key:match("^usb%d+$") then
        local _, map = M.parse_props(v[key], "host")
        local id = (map.host or ""):lower()
        if id:match("^%x%x%x%x:%x%x%x%x$") and (usb_count[id] or 0) > 1 then
          note(vm, key, "host=%s matches %d present USB devices: use the port form (host=BUS-PORT)", id, usb_count[id])
        end
      end
    end
    for address, key in pairs(hostpci_set) do
      local d = inv:device(address)
      for _, m in ipairs(d and d.passthrough_set or {}) do
        if not hostpci_set[m.address] then
          note(vm, key, "%s shares IOMMU group %d with %s, which the VM does not get: the VM cannot start",
            address, d.iommu_group, m.address)
        end
      end
    end
  end
  for address, list in pairs(used) do
    if #list > 1 then
      note(list[2], "hostpci", "%s is also given to VM %d (VMs %s)", address, list[1], table.concat(list, ", "))
    end
  end
  if only then
    local mine = {}
    for _, f in ipairs(findings) do
      if f.vm == only then mine[#mine + 1] = f end
    end
    findings = mine
  end
  table.sort(findings, function(a, b)
    if a.vm ~= b.vm then return a.vm < b.vm end
    if a.key ~= b.key then return a.key < b.key end
    return a.message < b.message
  end)
  return findings
end

return M
