#!/usr/bin/env ptlua
-- What is in this machine, which IOMMU group is each device in, and what can be passed
-- through on its own. Text grouped by IOMMU group, or JSON (documented in README.md).
local pt = require "pt"
local json = require "pt.json"
local topology = require "pt.topology"


local function explanation_lines(x)
  local lines = { string.format("  Why: %s", x.reason) }
  if #x.steps > 0 then lines[#lines + 1] = "  Path up to the root:" end
  for _, step in ipairs(x.steps) do lines[#lines + 1] = "    " .. step.text end
  for i, fix in ipairs(x.fixes) do
    lines[#lines + 1] = (i == 1 and "  What would change it:\n" or "") .. "    - " .. fix
  end
  return table.concat(lines, "\n")
end


local function name_of(d)
  local vendor, device = d.vendor_name, d.device_name
  return string.format("%s %s", vendor or "Vendor " .. d.vendor_id, device or "Device " .. d.device_id)
end

local VERDICT_TEXT = {
  ["no-iommu"] = "no IOMMU: cannot be passed through",
  ["no-group"] = "in no IOMMU group: cannot be passed through",
  bridge = "bridge: stays with the host",
  isolated = "isolated: passes through alone",
  ["with-companions"] = "with companions: passes with ",
  shared = "shared: passes only with ",
}

-- The other members of a set named with each device, at most this many: a group of thousands
-- (a switch without ACS full of VFs) would make the report grow with the square of its size.
local NAMED_MEMBERS = 8

-- sets: group number -> that group's passthrough set (addresses), read once a group;
-- inv: the snapshot, for the names of the devices a shared set brings along
local function verdict_text(d, sets, inv)
  local text = VERDICT_TEXT[d.verdict]
  if d.verdict == "with-companions" or d.verdict == "shared" then
    local set = sets[d.iommu_group]
    if not set then
      set = inv:group(d.iommu_group):fields().passthrough_set
      sets[d.iommu_group] = set
    end
    local others = {}
    for _, a in ipairs(set) do
      if a ~= d.address and #others == NAMED_MEMBERS then
        others[#others + 1] = string.format("and %d more of group %d", #set - 1 - NAMED_MEMBERS, d.iommu_group)
        break
      elseif a ~= d.address then
        local o = d.verdict == "shared" and inv:device(a)
        local name = o and (o.device_name or o.class_name)
        others[#others + 1] = name and string.format("%s (%s)", a, name) or a
      end
    end
    text = text .. table.concat(others, d.verdict == "shared" and ", " or " ")
  end
  return text
end

-- Two lines a device: what it is (as lspci -nn says it), then what passing it through means.
local function device_lines(d, sets, inv)
  local flags = d.flags
  local class = d.class and string.format("%s [%s]", d.class_name or "Class", d.class:sub(1, 4))
    or "class unknown"
  return string.format("  %s  %s: %s [%s:%s]\n  %s  driver %s; %s%s", d.address, class,
    name_of(d), d.vendor_id, d.device_id, string.rep(" ", #d.address),
    d.driver or "none", verdict_text(d, sets, inv), #flags > 0 and "; " .. table.concat(flags, ", ") or "")
end

-- What a listing (report --listing) cannot show: the library's sentence.
local LISTING_CANNOT = pt.listing_cannot_show

local function gts(mts) return string.format("%d.%d GT/s", mts // 1000, mts % 1000 // 100) end

-- A device's PCIe link (dev:link()): now, at most, and what is wrong with it.
local function link_line(k)
  local line = string.format("  link: x%d at %s (it can do x%d at %s)", k.width, gts(k.speed), k.max_width, gts(k.max_speed))
  if k.state == "narrow" or k.state == "slow" then line = line .. "\n  link " .. k.state .. ": " .. k.why end
  return line
end

-- source: the host's root, or the listing read as a host
local function print_text(inv, selected, source, groups)
  local sets = {}
  print(string.format("%s: %d PCI devices, IOMMU %s", source, inv:count(),
    inv:has_iommu() and ("on, " .. inv:group_count() .. " groups") or "off"))
  local by_group, ungrouped = {}, {}
  for _, d in ipairs(selected) do
    if d.iommu_group == nil then
      ungrouped[#ungrouped + 1] = d
    else
      by_group[d.iommu_group] = by_group[d.iommu_group] or {}
      table.insert(by_group[d.iommu_group], d)
    end
  end
  for _, n in ipairs(groups) do
    local type = inv:group(n).type
    print(string.format("\nIOMMU group %d%s", n, type and " (" .. type .. ")" or ""))
    for _, d in ipairs(by_group[n]) do
      print(device_lines(d, sets, inv))
      if d.numa_node and d.local_cpus then
        print(string.format("  NUMA node %d, local CPUs %s", d.numa_node, d.local_cpus))
      end
      if d.power_state or d.d3cold_allowed ~= nil then
        print(string.format("  power %s%s", d.power_state or "state unknown", d.d3cold_allowed == nil and "" or
          d.d3cold_allowed and ", D3cold allowed (persist.lua --no-d3cold keeps it out)" or ", D3cold not allowed"))
      end
      if d.variant_driver then
        print(string.format("  vfio-pci variant driver: %s%s", d.variant_driver, d.driver == d.variant_driver and
          " (bound: Proxmox's line takes driver=keep)" or " (stands in for vfio-pci: migration, its quirks)"))
      end
      if d.link then print(link_line(d.link)) end
      if d.explanation then print(explanation_lines(d.explanation)) end
    end
  end
  if #ungrouped > 0 then
    print("\nNot in an IOMMU group")
    for _, d in ipairs(ungrouped) do print(device_lines(d, sets, inv)) end
  end
end

local USB_KEYS = { "port", "peer_port", "bus", "devnum", "vendor_id", "product_id", "manufacturer", "product",
  "serial", "vendor_name", "product_name", "speed", "interfaces", "node", "controller", "shares_id" }

-- USB devices: ids, names, serial, port, speed, interfaces and their drivers, the /dev node,
-- the PCI controller (and what else hangs under it, for passing the whole controller).
local function usb_report(inv, as_json)
  local devices = inv:usb()
  local count, by_controller = {}, {}
  for _, d in ipairs(devices) do
    local id = d.vendor_id .. ":" .. d.product_id
    count[id] = (count[id] or 0) + 1
    if d.controller then
      by_controller[d.controller] = by_controller[d.controller] or {}
      table.insert(by_controller[d.controller], d.port)
    end
  end
  if as_json then
    local list = json.array()
    for i, d in ipairs(devices) do
      d.shares_id = count[d.vendor_id .. ":" .. d.product_id] > 1
      for _, k in ipairs(USB_KEYS) do
        if d[k] == nil then d[k] = json.null end
      end
      list[i] = json.object(USB_KEYS, d)
    end
    local controllers = json.object({}, {})
    for c, ports in pairs(by_controller) do controllers[c] = json.array(ports) end
    print(json.encode(json.object({ "usb", "controllers" }, { usb = list, controllers = controllers }), "  ", 2))
    return
  end
  print(string.format("%d USB devices", #devices))
  for _, d in ipairs(devices) do
    local name = d.product or d.product_name or "?"
    print(string.format("  %-10s [%s:%s] %s %s%s%s", d.port, d.vendor_id, d.product_id,
      d.manufacturer or d.vendor_name or "?", name, d.serial and (" serial " .. d.serial) or "",
      d.node and (" " .. d.node) or ""))
    print(string.format("  %-10s %d Mbit/s, interfaces %s, on %s%s%s", "", d.speed, d.interfaces or "-",
      d.controller or "?", d.peer_port and ("; the same physical port is " .. d.peer_port .. " at the other speed") or "",
      count[d.vendor_id .. ":" .. d.product_id] > 1 and "; another device has the same id: attach by port" or ""))
  end
end

-- The numbers of the groups of the selected devices, in order.
local function groups_of(selected)
  local wanted, numbers = {}, {}
  for _, d in ipairs(selected) do
    local n = d.iommu_group
    if n and not wanted[n] then
      wanted[n] = true
      numbers[#numbers + 1] = n
    end
  end
  table.sort(numbers)
  return numbers
end

return {
  name = "report",
  description = "PCI devices by IOMMU group, with what each one takes with it to a VM",
  args = {
    { name = "json", type = "bool", help = "print JSON instead of text" },
    { name = "class", type = "enum", values = { "gpu", "audio", "usb", "storage", "network" },
      help = "only devices of this kind" },
    { name = "device", type = "pci-addr", help = "only this device" },
    { name = "link", type = "bool",
      help = "each device's PCIe link against what it and its port can do (with --device: always)" },
    { name = "explain", type = "bool",
      help = "say why each device shares its group and what would change it (with --device: always)" },
    { name = "usb", type = "bool", help = "list the USB devices instead" },
    { name = "dot", type = "bool", help = "print the PCI tree as Graphviz DOT, coloured by IOMMU group" },
    { name = "svg", type = "bool", help = "draw the PCI tree as SVG with dot (graphviz), on stdout" },
    { name = "require-iommu", type = "bool", help = "fail (exit 1) when the IOMMU is off" },
    { name = "publish", type = "bool",
      help = "write this node's compact report to /etc/pve/nodes/NODE/libpt.json (a Proxmox cluster)" },
    { name = "node", type = "string", help = "this node's name (--publish; default: the host name)" },
    { name = "listing", type = "file",
      help = "a posted IOMMU group listing (IOMMU Group N + lspci -nns lines, or ls-iommu's) read as a host: judge a board before buying it" },
  },
  run = function(args)
    if args.listing then
      for _, opt in ipairs { "usb", "publish", "explain", "dot", "svg", "link" } do
        if args[opt] then error("--" .. opt .. " and --listing: " .. LISTING_CANNOT, 0) end
      end
    end
    local inv, err
    if args.listing then inv, err = pt.listing(args.listing.text, args.listing.path) else inv, err = pt.scan() end
    if not inv then error(err, 0) end
    if args.usb then return usb_report(inv, args.json) end
    if args.publish then
      local cluster = require "pt.cluster"
      local path, size = cluster.publish(inv, args.node or cluster.node_name())
      print(string.format("published %s (%d bytes, %d devices)", path, size, inv:count()))
      return 0
    end
    local chosen = {}
    if args.device then
      local dev, derr = inv:device(args.device)
      if not dev then error(derr, 0) end
      chosen[1] = dev
    else
      for d in inv:devices() do
        if not args.class or d.kind == args.class then chosen[#chosen + 1] = d end
      end
    end
    local function explained(dev) return (args.explain or args.device) and dev.iommu_group and not dev.bridge end
    local function explanation(dev)
      if explained(dev) then return assert(dev:explain()) end
    end
    -- JSON is written by the library; text and pictures work on dev:fields() records
    local selected = {}
    if not args.json then
      for i, dev in ipairs(chosen) do
        selected[i] = dev:fields()
        selected[i].explanation = explanation(dev)
        if args.link or args.device then selected[i].link = dev:link() end
        if args.device then
          selected[i].local_cpus, selected[i].variant_driver = dev:local_cpus(), dev.variant_driver
          selected[i].power_state, selected[i].d3cold_allowed = dev.power_state, dev.d3cold_allowed
        end
      end
    end
    local groups = groups_of(chosen)
    local root = pt.root()
    if args.dot or args.svg then
      local dot = topology.dot(selected, name_of)
      if args.svg then print((topology.svg(dot):gsub("\n$", ""))) else print(dot) end
    elseif args.json then -- the library writes the whole document
      print(inv:json{ devices = chosen, explain = args.explain or args.device, links = args.link or args.device })
    elseif args.listing then
      print_text(inv, selected, "Listing " .. args.listing.path, groups)
      print("\nNote: " .. LISTING_CANNOT .. ".")
    else
      print_text(inv, selected, "Host " .. root, groups)
      if not inv:has_iommu() then print("\n" .. assert(pt.host()).iommu_advice) end -- as the doctor says it
      for _, w in ipairs(inv:warnings()) do pt.warn(w) end
    end
    if args["require-iommu"] and not inv:has_iommu() then
      error("the IOMMU is off (no groups under " .. (root == "/" and "" or root) ..
        "/sys/kernel/iommu_groups); see the report for the kernel parameters to add", 0)
    end
  end,
}
