-- The `pt` module's contract, run by ptlua: ptlua --root TREE tests/lua/binding.lua NOTSYSFS
local pt = require "pt"
local notsysfs = ...

local function raises(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error matching " .. pattern)
  assert(tostring(err):find(pattern, 1, true), "error '" .. tostring(err) .. "' lacks '" .. pattern .. "'")
end

-- system failures: nil, message, errno
local ctx, msg, errno = pt.context { root = notsysfs .. "/missing" }
assert(ctx == nil and msg:find("missing: No such file or directory", 1, true) and errno == 2, msg)
local inv
inv, msg, errno = pt.scan { root = notsysfs }
assert(inv == nil and msg:find("not a sysfs tree", 1, true) and errno == 2, msg)

-- misuse raises
raises("unknown option 'bogus'", pt.context, { bogus = 1 })
raises("bad argument #1", pt.context, 42)

inv = assert(pt.scan())
assert(tostring(inv) == "pt.Snapshot(21 devices)", tostring(inv))
raises("not a PCI address", inv.device, inv, "zz")
local dev = assert(inv:device("01:00.0"))
assert(tostring(dev) == "pt.Device(0000:01:00.0)")
assert(dev == inv:device("0000:01:00.0"), "same device compares equal")
assert(dev ~= inv:device("0000:01:00.1"))
raises("no field 'frobnicate' in pt.Device", function() return dev.frobnicate end)
local none, nmsg, nerr = inv:device("0000:09:00.0")
assert(none == nil and nmsg:find("0000:09:00.0", 1, true) and nerr == 2)

assert(dev.vendor_id == 0x10de and dev.device_id == 0x1d01 and dev.class == 0x030000)
assert(dev.verdict == "with-companions" and #dev.passthrough_set == 2)
assert(dev.passthrough_set[2].address == "0000:01:00.1")
assert(dev.group.number == 2 and dev.iommu_group == 2 and tostring(dev.group) == "pt.Group(2)")
assert(#dev.group.devices == 3 and #dev.group.passthrough_set == 2)
assert(dev.parent.address == "0000:00:01.0" and dev.parent.bridge)
assert(dev.driver == nil and dev.boot_vga == false and dev.numa_node == nil)
assert(dev.bars[1] == 0 and dev.bars.rom == 0)
assert(dev.slot == 0 and dev.bus == 1 and dev.func == 0 and dev.domain == 0)

-- iterators: every device once, in order; break then close
local n, last = 0, ""
for d in inv:devices() do
  assert(d.address > last); last = d.address; n = n + 1
end
assert(n == inv:count())
for d in inv:devices() do if d.address then break end end
local groups = 0
for g in inv:groups() do groups = groups + 1; assert(g.type == "DMA") end
assert(groups == 15)

-- closing: later use raises, devices keep their snapshot
inv:close()
raises("attempt to use a closed pt.Snapshot", inv.count, inv)
inv:close() -- a second close is harmless
assert(dev.address == "0000:01:00.0" and dev.passthrough_set[1].address == "0000:01:00.0")
do
  local scoped <close> = assert(pt.scan())
  assert(scoped:has_iommu())
end
print("binding ok")
