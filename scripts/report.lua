#!/usr/bin/env ptlua
-- What is in this machine, which IOMMU group is each device in, and what can be passed
-- through on its own. Text grouped by IOMMU group, or JSON (documented in README.md).
local pt = require "pt"
local json = require "pt.json"

local classes = {
  gpu = function(c) return c >> 16 == 0x03 end,
  audio = function(c) return c >> 8 == 0x0401 or c >> 8 == 0x0403 end,
  usb = function(c) return c >> 8 == 0x0c03 end,
  storage = function(c) return c >> 16 == 0x01 end,
  network = function(c) return c >> 16 == 0x02 end,
}

local IOMMU_OFF = [[
The IOMMU is off: %s/sys/kernel/iommu_groups has no groups, so no device can be passed through.
To turn it on:
  1. Enable VT-d (Intel) or AMD-Vi / IOMMU (AMD) in the firmware setup.
  2. Add to the kernel command line
       Intel: intel_iommu=on iommu=pt
       AMD:   iommu=pt   (the AMD IOMMU is on once the firmware enables it; "amd_iommu=on" is not a kernel option)
     GRUB:         append them to GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, then run update-grub
     systemd-boot: append them to the line in /etc/kernel/cmdline, then run proxmox-boot-tool refresh
  3. Reboot, then check with: ptlua scripts/report.lua --require-iommu]]

local function hex(v, width) return string.format("%0" .. width .. "x", v) end

local function addresses(devices)
  local out = json.array()
  for i, d in ipairs(devices) do out[i] = d.address end
  return out
end

local function flags_of(d)
  local flags = {}
  if d.boot_vga then flags[#flags + 1] = "boot-vga" end
  if d.reset_method == "" then flags[#flags + 1] = "no-reset" end
  if d.driver_override then flags[#flags + 1] = "override=" .. d.driver_override end
  if d.physfn then flags[#flags + 1] = "vf-of=" .. d.physfn.address end
  local vfs = #d.virtfns
  if vfs > 0 then flags[#flags + 1] = vfs .. "-vfs" end
  return flags
end

local DEVICE_KEYS = { "address", "vendor_id", "device_id", "subsystem_vendor_id",
  "subsystem_device_id", "class", "revision", "vendor_name", "device_name", "class_name",
  "driver", "driver_override", "iommu_group", "verdict", "passthrough_set", "bridge",
  "multifunction", "parent", "boot_vga", "reset_method", "numa_node", "physfn", "virtfns",
  "bar_sizes", "rom_size", "flags" }

local function device_json(d)
  local null = json.null
  local bars = json.array()
  for i, size in ipairs(d.bars) do bars[i] = size end
  local class = d.class
  return json.object(DEVICE_KEYS, {
    address = d.address,
    vendor_id = hex(d.vendor_id, 4),
    device_id = hex(d.device_id, 4),
    subsystem_vendor_id = hex(d.subsystem_vendor_id, 4),
    subsystem_device_id = hex(d.subsystem_device_id, 4),
    class = class and hex(class, 6) or null,
    revision = hex(d.revision, 2),
    vendor_name = d.vendor_name or null,
    device_name = d.device_name or null,
    class_name = d.class_name or null,
    driver = d.driver or null,
    driver_override = d.driver_override or null,
    iommu_group = d.iommu_group or null,
    verdict = d.verdict,
    passthrough_set = addresses(d.passthrough_set),
    bridge = d.bridge,
    multifunction = d.multifunction,
    parent = d.parent and d.parent.address or null,
    boot_vga = (d.boot_vga == nil) and null or d.boot_vga,
    reset_method = d.reset_method or null,
    numa_node = d.numa_node or null,
    physfn = d.physfn and d.physfn.address or null,
    virtfns = addresses(d.virtfns),
    bar_sizes = bars,
    rom_size = d.bars.rom,
    flags = json.array(flags_of(d)),
  })
end

local function name_of(d)
  local vendor, device = d.vendor_name, d.device_name
  if vendor and device then return vendor .. " " .. device end
  return vendor or device or "(unknown)"
end

local VERDICT_TEXT = {
  ["no-iommu"] = "no IOMMU: cannot be passed through",
  ["no-group"] = "in no IOMMU group: cannot be passed through",
  bridge = "bridge: stays with the host",
  isolated = "isolated: passes through alone",
  ["with-companions"] = "with companions: passes with ",
  shared = "shared: passes only with ",
}

local function verdict_text(d)
  local text = VERDICT_TEXT[d.verdict]
  if d.verdict == "with-companions" or d.verdict == "shared" then
    local others = {}
    for _, m in ipairs(d.passthrough_set) do
      if m ~= d then others[#others + 1] = m.address end
    end
    text = text .. table.concat(others, " ")
  end
  return text
end

-- Two lines a device: what it is (as lspci -nn says it), then what passing it through means.
local function device_lines(d)
  local flags = d.bridge and {} or flags_of(d)
  local class = d.class and string.format("%s [%s]", d.class_name or "Class", hex(d.class >> 8, 4))
    or "class unknown"
  return string.format("  %s  %s: %s [%s:%s]\n  %s  driver %s; %s%s", d.address, class,
    name_of(d), hex(d.vendor_id, 4), hex(d.device_id, 4), string.rep(" ", #d.address),
    d.driver or "none", verdict_text(d), #flags > 0 and "; " .. table.concat(flags, ", ") or "")
end

local function print_text(inv, selected, root, ngroups)
  print(string.format("Host %s: %d PCI devices, IOMMU %s", root, inv:count(),
    inv:has_iommu() and ("on, " .. ngroups .. " groups") or "off"))
  local by_group, order, ungrouped = {}, {}, {}
  for _, d in ipairs(selected) do
    local g = d.iommu_group
    if g == nil then
      ungrouped[#ungrouped + 1] = d
    else
      if not by_group[g] then by_group[g] = {}; order[#order + 1] = g end
      table.insert(by_group[g], d)
    end
  end
  table.sort(order)
  for _, g in ipairs(order) do
    local group = inv:group(g)
    print(string.format("\nIOMMU group %d%s", g, group.type and " (" .. group.type .. ")" or ""))
    for _, d in ipairs(by_group[g]) do print(device_lines(d)) end
  end
  if #ungrouped > 0 then
    print("\nNot in an IOMMU group")
    for _, d in ipairs(ungrouped) do print(device_lines(d)) end
  end
end

return {
  name = "report",
  description = "PCI devices by IOMMU group, with what each one takes with it to a VM",
  args = {
    { name = "json", type = "bool", help = "print JSON instead of text" },
    { name = "class", type = "enum", values = { "gpu", "audio", "usb", "storage", "network" },
      help = "only devices of this kind" },
    { name = "device", type = "pci-addr", help = "only this device" },
    { name = "require-iommu", type = "bool", help = "fail (exit 1) when the IOMMU is off" },
  },
  run = function(args)
    local inv, err = pt.scan()
    if not inv then error(err, 0) end
    if args.device then
      local _, derr = inv:device(args.device)
      if derr then error(derr, 0) end
    end
    local selected = {}
    for d in inv:devices() do
      local keep = (not args.device or d.address == args.device)
        and (not args.class or (d.class and classes[args.class](d.class)))
      if keep then selected[#selected + 1] = d end
    end
    local groups, ngroups = json.array(), 0
    local wanted = {}
    for _, d in ipairs(selected) do
      if d.iommu_group then wanted[d.iommu_group] = true end
    end
    for g in inv:groups() do
      ngroups = ngroups + 1
      if wanted[g.number] then
        groups[#groups + 1] = json.object({ "number", "type", "devices", "passthrough_set" }, {
          number = g.number, type = g.type or json.null, devices = addresses(g.devices),
          passthrough_set = addresses(g.passthrough_set),
        })
      end
    end
    local root = pt.root()
    if args.json then
      local devices = json.array()
      for i, d in ipairs(selected) do devices[i] = device_json(d) end
      print(json.encode(json.object({ "root", "iommu", "devices", "groups", "warnings" }, {
        root = root, iommu = inv:has_iommu(), devices = devices, groups = groups,
        warnings = json.array(inv:warnings()),
      }), "  "))
    else
      print_text(inv, selected, root, ngroups)
      if not inv:has_iommu() then
        print("\n" .. string.format(IOMMU_OFF, root == "/" and "" or root))
      end
      for _, w in ipairs(inv:warnings()) do io.stderr:write("warning: ", w, "\n") end
    end
    if args["require-iommu"] and not inv:has_iommu() then
      error("the IOMMU is off (no groups under " .. (root == "/" and "" or root) ..
        "/sys/kernel/iommu_groups); see the report for the kernel parameters to add", 0)
    end
  end,
}
