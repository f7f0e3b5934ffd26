#!/usr/bin/env ptlua
-- A SAS, SATA or NVMe controller for a storage VM (TrueNAS and the like), with the disks
-- behind it named by /dev/disk/by-id so you see what you give away. The controller of the
-- host's own filesystems is refused (the guard).
local pt = require "pt"
local passthrough = require "pt.passthrough"

-- The disks whose sysfs path runs through the controller, by their by-id names.
local function disks_behind(dev)
  local by_id = {}
  for _, name in ipairs(pt.listdir("/dev/disk/by-id") or {}) do
    local target = pt.readlink("/dev/disk/by-id/" .. name)
    local disk = target and target:match("([^/]+)$")
    if disk and not name:match("%-part%d+$") then
      by_id[disk] = by_id[disk] or {}
      table.insert(by_id[disk], name)
    end
  end
  local disks = {}
  for _, name in ipairs(pt.listdir("/sys/block") or {}) do
    local link = pt.readlink("/sys/block/" .. name)
    if link and link:find("/" .. dev.address .. "/", 1, true) then
      disks[#disks + 1] = { name = name, ids = by_id[name] or {} }
    end
  end
  return disks
end

return {
  name = "hba-truenas",
  description = "pass a storage controller (SAS, SATA, NVMe) to a storage VM, listing its disks",
  args = passthrough.args {
    { name = "device", type = "pci-addr", required = true, help = "the storage controller" },
  },
  run = function(args)
    local inv, dev = passthrough.device(args.device, "storage controller", { "storage" })
    local disks = disks_behind(dev)
    if #disks == 0 then print(string.format("%s: no disk behind it", dev.address)) end
    for _, disk in ipairs(disks) do
      print(string.format("%s gives away %s: %s", dev.address, disk.name,
        #disk.ids > 0 and table.concat(disk.ids, ", ") or "(no /dev/disk/by-id name)"))
    end
    if args.emit then return passthrough.emit(inv, { dev }, args) end
    passthrough.bind({ dev }, args) -- the guard is the bind's assignment
  end,
}
