-- Proxmox VE: read VM configs (/etc/pve/qemu-server/<vmid>.conf), emit hostpciN/usbN lines,
-- the VM settings passthrough needs, `qm set` commands and cluster resource mappings, and lint
-- existing configs. The grammar is qemu-server's (see DESIGN.md).
local M = {}

local function fail(fmt, ...) error(string.format(fmt, ...), 0) end

-- Values that go into a config line: nothing that could start another key or line.
function M.check_value(what, value)
  value = tostring(value)
  if value:find("[%c,=;]") or value:find("[\128-\255]") then
    fail("%s %q: newlines, commas, '=', ';' and non-ASCII characters are not allowed", what, value)
  end
  return value
end

-- A file name in /usr/share/kvm (romfile) and a Proxmox storage id: nothing else gets through.
function M.check_romfile(name)
  name = M.check_value("romfile", name)
  if not require("pt").romfile_name_valid(name) then
    fail("romfile %q: a file name in /usr/share/kvm (letters, digits, '-', '_', '.', '+')", name)
  end
  return name
end

function M.check_storage(id)
  id = M.check_value("storage", id)
  if not id:match("^%a[%w%-_.]*$") then fail("storage %q: a Proxmox storage id (local-lvm)", id) end
  return id
end

-- One `qm set` command line, every word quoted for the shell: pasted, it runs exactly that.
local function qm_set(vm, words)
  return require("pt.qemu").shell({ "qm", "set", tostring(vm), table.unpack(words) })
end

function M.check_vmid(vm)
  local n = math.tointeger(tonumber(vm))
  if not n or not require("pt").vmid_valid(n) then fail("VM id %s: must be 100 to 999999999", tostring(vm)) end
  return n
end

-- "host=01:00,pcie=1" (or "01:00,pcie=1" with the default key) -> { {key, value}... }, map
function M.parse_props(value, default_key)
  local list, map = {}, {}
  for item in (value .. ","):gmatch("([^,]*),") do
    if item ~= "" then
      local k, v = item:match("^([%w%-_]+)=(.*)$")
      if not k then k, v = default_key, item end
      if not k then fail("%q: no key and no default key", item) end
      list[#list + 1] = { k, v }
      map[k] = v
    end
  end
  return list, map
end

function M.format_props(list)
  local out = {}
  for _, kv in ipairs(list) do
    out[#out + 1] = kv[1] and (kv[1] .. "=" .. kv[2]) or kv[2]
  end
  return table.concat(out, ",")
end

-- A VM config: { main = {keys = {...}, values = {}}, snapshots = {name = section},
-- description = text }. Comments before the first key make the description.
function M.parse_config(text, file)
  local function section() return { keys = {}, values = {} } end
  local config = { main = section(), snapshots = {}, description = {} }
  local current = config.main
  local n = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    local name = line:match("^%[([^%]]+)%]%s*$")
    if name then
      current = section()
      config.snapshots[name] = current
    elseif line:match("^#") then
      if current == config.main and #current.keys == 0 then
        config.description[#config.description + 1] = line:gsub("^#", "")
      end
    elseif line:match("^%s*$") then
      -- blank
    else
      local key, value = line:match("^([%w%-_]+):%s*(.-)%s*$")
      if not key then fail("%s:%d: cannot parse %q", file or "config", n, line) end
      if current.values[key] == nil then current.keys[#current.keys + 1] = key end
      current.values[key] = value
    end
  end
  config.description = table.concat(config.description, "\n")
  return config
end

-- A VM's config under the root (a regular file only: nothing blocks), or nil and its path.
function M.read_config(root, vm)
  vm = M.check_vmid(vm)
  local file = (root == "/" and "" or root) .. "/etc/pve/qemu-server/" .. vm .. ".conf"
  local text = require("pt").read_file("/etc/pve/qemu-server/" .. vm .. ".conf")
  if not text then return nil, file end
  return M.parse_config(text, file), file
end

-- "01:00" for domain 0, "0000:01:00" style kept for other domains.
local function short(address, whole_slot)
  local dom, rest = address:match("^(%x+):(%x%x:%x%x%.%x)$")
  local id = dom == "0000" and rest or address
  return whole_slot and id:sub(1, -3) or id
end

local function is_q35(machine)
  return machine and machine:find("q35") ~= nil
end

-- The host= values of a passthrough set: one entry a slot, the slot form when every function
-- of the slot goes, ';'-joined functions otherwise. Returns { {hosts =, slot =}... }.
function M.hostpci_hosts(inv, set)
  local slots, order = {}, {}
  for _, address in ipairs(set) do
    local slot = require("pt").slot(address)
    if not slots[slot] then slots[slot] = {}; order[#order + 1] = slot end
    table.insert(slots[slot], address)
  end
  local entries = {}
  for _, slot in ipairs(order) do
    local all = 0
    for d in inv:devices() do
      if require("pt").slot(d.address) == slot then all = all + 1 end
    end
    local members = slots[slot]
    if #members == all then
      entries[#entries + 1] = { hosts = short(members[1], true), slot = slot }
    else
      local ids = {}
      for i, a in ipairs(members) do ids[i] = short(a) end
      entries[#entries + 1] = { hosts = table.concat(ids, ";"), slot = slot }
    end
  end
  return entries
end

local function next_free(config, prefix, max, taken)
  for i = 0, max do
    local key = prefix .. i
    if not (config and config.main.values[key]) and not taken[key] then
      taken[key] = true
      return key
    end
  end
  fail("no free %s0..%s%d left in the VM's config", prefix, prefix, max)
end

-- opts: vm, primary (x-vga and vga none), rombar (false: rombar=0), romfile, hide_kvm,
-- machine (default q35), bios (default ovmf for GPUs), storage (for the efidisk).
-- Returns { lines = {...}, qm = "qm set ...", keys = {...} }.
-- Proxmox's legacy-igd=1 (Intel's integrated GPU as the VM's only, primary display): the device
-- at 00:02.0 alone (no multifunction), machine i440fx, vga none, the ROM BAR on.
local IGD = "0000:00:02.0"

local function emit_legacy_igd(dev, opts, config)
  if dev.address ~= IGD or dev.vendor_id ~= 0x8086 or not (dev.class and dev.class >> 16 == 0x03) then
    fail("%s: legacy-igd is for Intel's integrated GPU at %s", dev.address, IGD)
  end
  if opts.rombar == false then fail("legacy-igd needs the ROM BAR: not with --no-rombar") end
  local vm, values = opts.vm, config and config.main.values or {}
  local lines, options = {}, {}
  local function set(key, value)
    lines[#lines + 1] = key .. ": " .. value
    options[#options + 1] = "--" .. key
    options[#options + 1] = value
  end
  local props = { { nil, IGD }, { "legacy-igd", "1" } }
  if opts.romfile then props[#props + 1] = { "romfile", M.check_romfile(opts.romfile) } end
  set(next_free(config, "hostpci", 15, {}), M.format_props(props))
  if is_q35(values.machine or "pc") then set("machine", "pc") end
  if values.vga ~= "none" then set("vga", "none") end
  return { lines = lines, notes = {}, qm = qm_set(vm, options) }
end

-- The lint of a hostpci line with legacy-igd=1, by the same rules.
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

function M.emit(inv, dev, opts)
  local vm = M.check_vmid(opts.vm)
  if opts.legacy_igd then
    return emit_legacy_igd(dev, opts, opts.config or M.read_config(require("pt").root(), vm))
  end
  local config = opts.config or M.read_config(require("pt").root(), vm)
  local taken, lines, options, notes = {}, {}, {}, {}
  local values = config and config.main.values or {}
  local machine = values.machine or "pc"
  local is_gpu = dev.class and dev.class >> 16 == 0x03
  local function set(key, value, allocate)
    -- a new disk is allocated by qm set ("STORAGE:SIZE"), not written as a config line
    if allocate then
      notes[#notes + 1] = string.format("%s: allocate it with qm set %d --%s %s", key, vm, key, value)
    else
      lines[#lines + 1] = key .. ": " .. value
    end
    options[#options + 1] = "--" .. key
    options[#options + 1] = value
  end
  local settings = {}
  if not is_q35(machine) then
    settings[#settings + 1] = { "machine", opts.machine or "q35" }
    machine = opts.machine or "q35"
  end
  local set_addresses = {}
  for i, m in ipairs(dev.passthrough_set) do set_addresses[i] = m.address end
  if #set_addresses == 0 then fail("%s: %s: nothing to pass through", dev.address, dev.verdict) end
  for _, entry in ipairs(M.hostpci_hosts(inv, set_addresses)) do
    local props = { { nil, entry.hosts } }
    if is_q35(machine) then props[#props + 1] = { "pcie", "1" } end
    if opts.primary and entry.slot == require("pt").slot(dev.address) then props[#props + 1] = { "x-vga", "1" } end
    if opts.rombar == false then props[#props + 1] = { "rombar", "0" } end
    if opts.romfile then props[#props + 1] = { "romfile", M.check_romfile(opts.romfile) } end
    set(next_free(config, "hostpci", 15, taken), M.format_props(props))
  end
  if is_gpu and (values.bios or "seabios") ~= "ovmf" then
    settings[#settings + 1] = { "bios", "ovmf" }
    if not values.efidisk0 then
      settings[#settings + 1] = { "efidisk0", M.check_storage(opts.storage or "local-lvm") ..
        ":1,efitype=4m,pre-enrolled-keys=1" }
    end
  end
  if is_gpu then
    local cpu = opts.hide_kvm and "host,hidden=1" or "host"
    if values.cpu ~= cpu then settings[#settings + 1] = { "cpu", cpu } end
  end
  if opts.primary and values.vga ~= "none" then settings[#settings + 1] = { "vga", "none" } end
  for _, kv in ipairs(settings) do set(kv[1], kv[2], kv[1] == "efidisk0") end
  return { lines = lines, notes = notes, qm = qm_set(vm, options) }
end

-- A mediated device (vGPU) of a parent's type: Proxmox creates the mdev itself at VM start
-- (hostpciN: ADDRESS,mdev=TYPE). opts: vm, type, config. The type must be one the parent offers.
function M.emit_mdev(dev, opts)
  local vm = M.check_vmid(opts.vm)
  local config = opts.config or M.read_config(require("pt").root(), vm)
  local offered, names = nil, {}
  for _, t in ipairs(dev:mdev_types()) do
    names[#names + 1] = t.type
    if t.type == opts.type then offered = t end
  end
  if #names == 0 then fail("%s offers no mediated device types (no mdev_supported_types)", dev.address) end
  if not offered then
    fail("mdev type %q: %s offers %s", tostring(opts.type), dev.address, table.concat(names, ", "))
  end
  if offered.available_instances == 0 then
    fail("mdev type %s on %s: no instance available (available_instances 0)", opts.type, dev.address)
  end
  local props = { { nil, dev.address }, { "mdev", M.check_value("mdev", offered.type) } }
  if is_q35(config and config.main.values.machine or "pc") then props[#props + 1] = { "pcie", "1" } end
  local key = next_free(config, "hostpci", 15, {})
  local value = M.format_props(props)
  return { lines = { key .. ": " .. value }, qm = qm_set(vm, { "--" .. key, value }) }
end

-- A USB device: by vid:pid, or by port when ids are ambiguous or the device re-enumerates.
function M.emit_usb(opts)
  local vm = M.check_vmid(opts.vm)
  local config = opts.config or M.read_config(require("pt").root(), vm)
  local host
  if opts.port then
    local ok, why = require("pt.usb").parse_port(opts.port)
    if not ok then fail("%s", why) end
    host = opts.port
  else
    if not tostring(opts.id):match("^%x%x%x%x:%x%x%x%x$") then
      fail("USB id %q: expected VVVV:PPPP, e.g. 10c4:ea60", tostring(opts.id))
    end
    host = opts.id:lower()
  end
  local value = "host=" .. host .. (opts.usb3 and ",usb3=1" or "")
  local key = next_free(config, "usb", 13, {})
  return { lines = { key .. ": " .. value }, qm = qm_set(vm, { "--" .. key, value }) }
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
