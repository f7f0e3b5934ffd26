-- A Proxmox cluster through pmxcfs: each node publishes a compact report of its PCI devices to
-- /etc/pve/nodes/<node>/libpt.json (what mappings and their lint need, atomic, well under
-- pmxcfs's 1 MiB file limit), and any node builds pci.cfg mappings and checks them from every
-- node's published report. Other nodes' reports are input from elsewhere: every field is
-- checked before use (pt_node_read_published, in C), and a report must name the node it lies under.
local pt = require "pt"
local proxmox = require "pt.proxmox"

local M = {}

M.STALE_SECONDS = 24 * 3600

local function fail(fmt, ...) error(string.format(fmt, ...), 0) end

local function report_path(node) return "/etc/pve/nodes/" .. node .. "/libpt.json" end

local function check_node(name)
  if type(name) ~= "string" or not name:match("^[%a%d][%w%-]*$") or #name > 63 then
    fail("node name %q is not a host name", tostring(name))
  end
  return name
end

-- This node's name as Proxmox uses it: the short host name.
function M.node_name()
  local text = pt.read_host_file("/etc/hostname")
  if not text or not text:match("%S") then fail("no host name in /etc/hostname: give the node's name with --node") end
  return check_node(text:match("^%s*([^%.%s]+)"))
end

-- Writes this node's report (libpt's one format: pt_node_publish, which pt_node_read_published
-- reads); returns its path and size.
function M.publish(inv, node)
  local n = assert(pt.node(check_node(node)))
  assert(n:add_inventory(inv))
  local path, size = n:publish()
  if not path then fail("%s", size) end
  return path, size
end

-- One node's published report, read and checked by libpt's one reader in C
-- (pt_node_read_published: duplicate keys, NUL bytes, the format, the node, the time, every
-- field): {name, time, devices, node = the pt.Node}; nil and why when it is absent. One context
-- a node, none a device.
function M.read(node)
  check_node(node)
  local path = report_path(node)
  local n = assert(pt.node(node))
  local time, err, errno = n:read_published(path)
  if not time then
    if errno == pt.errno.ENOENT then return nil, path .. ": not published" end
    fail("%s", err)
  end
  return { name = node, time = time, devices = n:rows(), node = n }
end

-- The nodes of the cluster: the directories under /etc/pve/nodes.
function M.nodes()
  local out = {}
  for _, name in ipairs(pt.listdir("/etc/pve/nodes") or {}) do
    if name:match("^[%a%d][%w%-]*$") then out[#out + 1] = name end
  end
  table.sort(out)
  return out
end

-- Every other node's published report (this node's own devices come from its scan).
function M.others(this)
  local out, missing = {}, {}
  for _, node in ipairs(M.nodes()) do
    if node ~= this then
      local r = M.read(node)
      if r then out[#out + 1] = r else missing[#missing + 1] = node end
    end
  end
  return out, missing
end

-- The mappings of /etc/pve/mapping/pci.cfg (or usb.cfg), read by libpt's one section config
-- reader: {name = {{id, node, path, ...}, ...}} and the names in the file's order.
local function mappings(file)
  local out, order = {}, {}
  local sections, err, errno = pt.pve_config(file or "/etc/pve/mapping/pci.cfg")
  if not sections and errno ~= pt.errno.ENOENT then fail("%s", err) end -- absent: no mappings
  for _, section in ipairs(sections or {}) do
    local maps = {}
    for _, property in ipairs(section) do
      -- a map line read by the property parser C reads it with (the assignment's), skipped as
      -- the assignment skips it when it is not one
      local list, m
      if property[1] == "map" then list, m = pt.props_parse(property[2]) end
      if list then maps[#maps + 1] = m end
    end
    if not out[section.id] then order[#order + 1] = section.id end
    out[section.id] = maps
  end
  return out, order
end

-- Findings on the cluster's PCI mappings against every node's published report: mappings
-- that would fail at VM start on a node (Proxmox's "hardware probably changed": id, subsystem
-- id or IOMMU group no longer match), nodes without a report or without the device, stale
-- reports (with their age). Each finding: {mapping, node, message}.
function M.lint(inv, this, now)
  now = now or os.time()
  local findings = {}
  local function note(mapping, node, fmt, ...)
    findings[#findings + 1] = { mapping = mapping, node = node, message = string.format(fmt, ...) }
  end
  local reports = { [this] = { name = this, time = now, devices = {} } }
  for d in inv:devices() do table.insert(reports[this].devices, d:fields()) end
  local others, missing = M.others(this)
  for _, r in ipairs(others) do
    reports[r.name] = r
    local age = now - r.time
    if age > M.STALE_SECONDS then
      note("*", r.name, "its published report is %d h old: run report.lua --publish there", age // 3600)
    end
  end
  for _, node in ipairs(missing) do note("*", node, "has not published a report (report.lua --publish)") end
  local maps, order = mappings()
  for _, name in ipairs(order) do
    local on = {}
    for _, m in ipairs(maps[name]) do
      local node = m.node or "?"
      on[node] = true
      local r = reports[node]
      if r then
        local by = {}
        for _, d in ipairs(r.devices) do by[d.address] = d end
        for path in (m.path or ""):gmatch("[^;]+") do
          local full = path:match("^%x+:%x%x:%x%x%.%d$") and path or path .. ".0" -- a slot: its function 0
          local d = by[full]
          if not d then
            note(name, node, "path %s: no such device there: VMs using mapping %s cannot start on %s", path, name, node)
          else
            local id = d.vendor_id .. ":" .. d.device_id
            local sub = d.subsystem_vendor_id .. ":" .. d.subsystem_device_id
            if m.id and m.id ~= id then
              note(name, node, "path %s is %s now, the mapping says %s: the hardware probably changed", path, id, m.id)
            end
            if m["subsystem-id"] and m["subsystem-id"] ~= sub then
              note(name, node, "path %s has subsystem id %s now, the mapping says %s: the hardware probably changed",
                path, sub, m["subsystem-id"])
            end
            if m.iommugroup and tonumber(m.iommugroup) ~= d.iommu_group then
              note(name, node, "path %s is in IOMMU group %s now, the mapping says %s", path,
                tostring(d.iommu_group), m.iommugroup)
            end
          end
        end
      end
    end
    for node in pairs(reports) do
      if not on[node] then note(name, node, "no map line: VMs using mapping %s cannot start on this node", name) end
    end
  end
  -- USB: qemu-server takes one map line a node ("More than one USB mapping per host not supported")
  local usb, usb_order = mappings("/etc/pve/mapping/usb.cfg")
  for _, name in ipairs(usb_order) do
    local per = {}
    for _, m in ipairs(usb[name]) do per[m.node or "?"] = (per[m.node or "?"] or 0) + 1 end
    for node, n in pairs(per) do
      if n > 1 then
        note(name, node, "USB mapping %s has %d map lines for this node: Proxmox takes one a node", name, n)
      end
    end
  end
  table.sort(findings, function(a, b)
    if a.mapping ~= b.mapping then return a.mapping < b.mapping end
    if a.node ~= b.node then return a.node < b.node end
    return a.message < b.message
  end)
  return findings
end

return M
