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

-- Another node's report (report.lua --json), a file the admin names: decoded, its shape
-- checked; an error names the file and the byte, never what the file holds.
function M.read_node_report(file)
  local f, err = io.open(file, "rb")
  if not f then fail("%s", err) end
  local text = f:read(64 << 20)
  f:close()
  local ok, report = pcall(require("pt.json").decode, text or "")
  if not ok then fail("%s: %s", file, tostring(report):match("json: .*") or "not JSON") end
  if type(report) ~= "table" or type(report.devices) ~= "table" then
    fail("%s: not a report (ptlua scripts/report.lua --json)", file)
  end
  return report
end

-- A node's report as it arrives from elsewhere: every value that goes into pci.cfg checked.
function M.checked_device(node, d)
  local function bad(what, v) fail("node %s: device %s: %s %q is not valid", node, tostring(d.address), what, tostring(v)) end
  if type(d.address) ~= "string" or not d.address:match("^%x%x%x%x%x?:%x%x:%x%x%.[0-7]$") then bad("address", d.address) end
  for _, k in ipairs { "vendor_id", "device_id", "subsystem_vendor_id", "subsystem_device_id" } do
    if type(d[k]) ~= "string" or not d[k]:match("^%x%x%x%x$") then bad(k, d[k]) end
  end
  local null = require("pt.json").null
  local g = d.iommu_group
  if g == null then d.iommu_group = nil
  elseif g ~= nil and (math.type(g) ~= "integer" or g < 0) then bad("iommu_group", g) end
  if d.physfn == null then d.physfn = nil end
  if d.physfn ~= nil and (type(d.physfn) ~= "string" or not d.physfn:match("^%x%x%x%x%x?:%x%x:%x%x%.[0-7]$")) then
    bad("physfn", d.physfn)
  end
  return d
end

local function id_of(d) return d.vendor_id:lower() .. ":" .. d.device_id:lower() end
local function slot_of(address) return require("pt").slot(address) end

-- Cluster mappings (/etc/pve/mapping/pci.cfg) for a passthrough set. A map path without a
-- function is the whole slot, checked by the attributes of function 0 (pve-guest-common's
-- assert_valid); a VM's hostpci line names one mapping, and qemu-server takes each map line of
-- its node as an alternative. So: one mapping a slot, in the slot form when the set holds every
-- function of the slot, one a function otherwise; each node's matching devices as map lines.
-- set: the local records of the set; nodes: { {name = "pve1", devices = <report devices>}, ... }
-- (the first is this node: its records are the kernel's; the others' are checked).
function M.emit_mapping(name, set, nodes, opts)
  M.check_value("mapping name", name)
  if not name:match("^[%a][%w%-_]*$") then fail("mapping name %q: letters, digits, '-' and '_'", name) end
  for i, node in ipairs(nodes) do
    M.check_value("node name", node.name)
    if not node.name:match("^[%a%d][%w%-%.]*$") then fail("node name %q is not a host name", node.name) end
    if i > 1 then for _, d in ipairs(node.devices) do M.checked_device(node.name, d) end end
  end
  -- The functions of each slot, on each node.
  local function slots(devices)
    local out = {}
    for _, d in ipairs(devices) do
      local s = slot_of(d.address)
      out[s] = out[s] or {}
      out[s][#out[s] + 1] = d
    end
    return out
  end
  local function ids(list)
    local out = {}
    for _, d in ipairs(list) do out[#out + 1] = d.address:sub(-1) .. "=" .. id_of(d) end
    table.sort(out)
    return table.concat(out, " ")
  end
  local here = slots(nodes[1].devices)
  local wanted, order = {}, {}
  for _, d in ipairs(set) do
    local s = slot_of(d.address)
    if not wanted[s] then wanted[s] = {}; order[#order + 1] = s end
    wanted[s][#wanted[s] + 1] = d
  end
  table.sort(order)
  -- Each unit is a whole slot ({whole = true, fn0 = record, shape = ids}) or one function.
  local units = {}
  for _, s in ipairs(order) do
    local all = here[s] or wanted[s]
    if #wanted[s] == #all then
      table.sort(all, function(a, b) return a.address < b.address end)
      if all[1].address:sub(-1) == "0" then
        units[#units + 1] = { whole = true, first = all[1], shape = ids(all) }
      else
        for _, d in ipairs(all) do units[#units + 1] = { first = d } end
      end
    else
      table.sort(wanted[s], function(a, b) return a.address < b.address end)
      for _, d in ipairs(wanted[s]) do units[#units + 1] = { first = d } end
    end
  end
  local mappings, hostpci, missing, lacking = {}, {}, {}, {}
  for i, u in ipairs(units) do
    local mname = i == 1 and name or (name .. "-" .. i)
    local lines = { mname }
    for _, node in ipairs(nodes) do
      local found = false
      local node_slots = u.whole and slots(node.devices) or nil
      for _, d in ipairs(node.devices) do
        -- an alternative is the same kind of device: a VF for a VF, never its PF
        local match = id_of(d) == id_of(u.first) and (d.physfn == nil) == (u.first.physfn == nil)
        if match and u.whole then
          match = d.address:sub(-1) == "0" and ids(node_slots[slot_of(d.address)]) == u.shape
        end
        if match then
          found = true
          lines[#lines + 1] = string.format("\tmap id=%s,%snode=%s,path=%s,subsystem-id=%s",
            id_of(d), d.iommu_group and ("iommugroup=" .. d.iommu_group .. ",") or "", node.name,
            u.whole and slot_of(d.address) or d.address,
            d.subsystem_vendor_id:lower() .. ":" .. d.subsystem_device_id:lower())
        end
      end
      if not found and not lacking[node.name] then
        lacking[node.name] = true
        missing[#missing + 1] = node.name
      end
    end
    local props = { { "mapping", mname } }
    if not opts or opts.pcie ~= false then props[#props + 1] = { "pcie", "1" } end
    mappings[#mappings + 1] = lines
    hostpci[#hostpci + 1] = M.format_props(props)
  end
  return { mappings = mappings, hostpci = hostpci, missing = missing }
end

-- The mapping as it is printed: the pci.cfg sections, then the VM's lines.
function M.print_mapping(r)
  print("# /etc/pve/mapping/pci.cfg")
  for i, lines in ipairs(r.mappings) do
    if i > 1 then print("") end
    print(table.concat(lines, "\n"))
  end
  for _, h in ipairs(r.hostpci) do print("# in the VM: hostpciN: " .. h) end
  if #r.missing > 0 then print("# no matching device on: " .. table.concat(r.missing, ", ")) end
end

-- USB mappings (/etc/pve/mapping/usb.cfg): a map line a node, by id (or by port path).
function M.emit_usb_mapping(name, usb, nodes)
  M.check_value("mapping name", name)
  if usb.port then
    local ok, why = require("pt.usb").parse_port(usb.port)
    if not ok then fail("%s", why) end
  elseif not tostring(usb.id):match("^%x%x%x%x:%x%x%x%x$") then
    fail("USB id %q: expected VVVV:PPPP, e.g. 10c4:ea60", tostring(usb.id))
  end
  if not name:match("^[%a][%w%-_]*$") then fail("mapping name %q: letters, digits, '-' and '_'", name) end
  local lines = { name }
  for _, node in ipairs(nodes) do
    M.check_value("node name", node)
    lines[#lines + 1] = string.format("\tmap %s,node=%s", usb.port and ("path=" .. usb.port) or ("id=" .. usb.id), node)
  end
  return { lines = lines, usb = "mapping=" .. name }
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
