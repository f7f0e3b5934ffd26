-- Host persistence: what makes a passthrough set go to vfio-pci at every boot. A modprobe.d
-- file (softdeps; `options vfio-pci ids=` only when no other device shares the ids, else a
-- udev rule setting driver_override by address), blacklist lines only when asked, the
-- initramfs modules (initramfs-tools), the kernel command line for GRUB or systemd-boot
-- (detected from the host). Shown as diffs against the files there; applied atomically with
-- a backup of each file changed.
local pt = require "pt"

local M = {}

local MODPROBE = "/etc/modprobe.d/libpt-vfio.conf"
local UDEV = "/etc/udev/rules.d/61-libpt-vfio.rules"
local VENDOR_RESET = "/etc/udev/rules.d/62-libpt-vendor-reset.rules"
local INITRAMFS = "/etc/initramfs-tools/modules"
local GRUB = "/etc/default/grub"
local SYSTEMD_BOOT = "/etc/kernel/cmdline"

-- A host file under the root: regular files only (a FIFO in a tree never blocks), nil when absent.
local function read(root, path)
  return (pt.read_host_file(path))
end

local function lines_of(text)
  local out = {}
  for line in (text or ""):gmatch("([^\n]*)\n") do out[#out + 1] = line end
  local last = (text or ""):match("([^\n]+)$")
  if last then out[#out + 1] = last end
  return out
end

-- The most cells of the middle's LCS table: past it the middle is shown as removed, then added.
local LCS_CELLS = 250000

-- A unified diff (one hunk with all context: the files are small). The common head and tail
-- are matched first; only what differs between them is compared line by line, in memory
-- linear in the files' size (a middle past LCS_CELLS is shown whole, still a correct diff).
function M.diff(path, old, new)
  local a, b = lines_of(old), lines_of(new)
  local n, m = #a, #b
  local head, tail = 0, 0
  while head < n and head < m and a[head + 1] == b[head + 1] do head = head + 1 end
  while tail < n - head and tail < m - head and a[n - tail] == b[m - tail] do tail = tail + 1 end
  local out = { "--- " .. (old and path or "/dev/null"), "+++ " .. path,
                string.format("@@ -%d,%d +%d,%d @@", n > 0 and 1 or 0, n, m > 0 and 1 or 0, m) }
  for k = 1, head do out[#out + 1] = " " .. a[k] end
  local n1, m1 = n - head - tail, m - head - tail
  if n1 * m1 > LCS_CELLS then
    for k = head + 1, n - tail do out[#out + 1] = "-" .. a[k] end
    for k = head + 1, m - tail do out[#out + 1] = "+" .. b[k] end
  else
    -- lcs[i][j]: the longest common subsequence of a[head+i..] and b[head+j..]
    local lcs = {}
    for i = n1 + 1, 1, -1 do
      local row, below = {}, lcs[i + 1]
      for j = m1 + 1, 1, -1 do
        if i > n1 or j > m1 then row[j] = 0
        elseif a[head + i] == b[head + j] then row[j] = below[j + 1] + 1
        else row[j] = math.max(below[j], row[j + 1]) end
      end
      lcs[i] = row
    end
    local i, j = 1, 1
    while i <= n1 or j <= m1 do
      if i <= n1 and j <= m1 and a[head + i] == b[head + j] then
        out[#out + 1] = " " .. a[head + i]; i = i + 1; j = j + 1
      elseif i <= n1 and (j > m1 or lcs[i + 1][j] >= lcs[i][j + 1]) then
        out[#out + 1] = "-" .. a[head + i]; i = i + 1
      else
        out[#out + 1] = "+" .. b[head + j]; j = j + 1
      end
    end
  end
  for k = n - tail + 1, n do out[#out + 1] = " " .. a[k] end
  return table.concat(out, "\n")
end

local function kernel_release(root)
  return (read(root, "/proc/sys/kernel/osrelease") or ""):match("^(%d+%.%d+)") or "0.0"
end


-- Adds the words missing from a command line, keeping the others in place.
local function add_params(line, params)
  local have = {}
  for w in line:gmatch("%S+") do have[w] = true end
  for _, p in ipairs(params) do
    if not have[p] then line = (line:match("^%s*$") and "" or line .. " ") .. p end
  end
  return line
end

-- /etc/default/grub with the parameters added to the GRUB_CMDLINE_LINUX_DEFAULT assignment
-- that takes effect: the last one that is not a comment (the file is sourced by a shell), its
-- value in double, single or no quotes. Comments are never edited; without an assignment one
-- is added at the end.
function M.grub_with(grub, params)
  local lines = lines_of(grub)
  for k = #lines, 1, -1 do
    local lead, q, value, rest = lines[k]:match('^(%s*GRUB_CMDLINE_LINUX_DEFAULT=)(["\']?)(.-)%2(%s*)$')
    if lead and not (q == "" and value:find("%s")) then
      lines[k] = lead .. (q == "" and '"' or q) .. add_params(value, params) .. (q == "" and '"' or q) .. rest
      return table.concat(lines, "\n") .. "\n"
    end
  end
  local sep = (grub == "" or grub:sub(-1) == "\n") and "" or "\n"
  return grub .. sep .. 'GRUB_CMDLINE_LINUX_DEFAULT="' .. table.concat(params, " ") .. '"\n'
end

-- The changes: { {path =, old =, new =}... } and the commands that apply them.
-- set: the passthrough set's device records (dev:fields()); inv: the inventory.
function M.plan(inv, set, opts)
  opts = opts or {}
  local root = pt.root()
  local changes, commands = {}, {}
  local function change(path, new, command)
    local old = read(root, path)
    if old ~= new then
      changes[#changes + 1] = { path = path, old = old, new = new }
      if command and not commands[command] then
        commands[#commands + 1] = command
        commands[command] = true
      end
    end
  end

  -- ids= takes every device with those ids: only when the set holds all of them.
  local in_set, ids, drivers = {}, {}, {}
  for _, d in ipairs(set) do in_set[d.address] = true end
  local shared = {}
  for _, d in ipairs(set) do
    local id = d.vendor_id .. ":" .. d.device_id
    if not ids[id] then ids[#ids + 1] = id; ids[id] = true end
    if d.driver and d.driver ~= "vfio-pci" and not drivers[d.driver] then
      drivers[#drivers + 1] = d.driver; drivers[d.driver] = true
    end
  end
  for d in inv:devices() do
    local id = string.format("%04x:%04x", d.vendor_id, d.device_id)
    if ids[id] and not in_set[d.address] then shared[#shared + 1] = d.address .. " (" .. id .. ")" end
  end
  local addresses = {}
  for _, d in ipairs(set) do addresses[#addresses + 1] = d.address end
  local modprobe = { "# Written by libpt: " .. table.concat(addresses, " ") .. " go to vfio-pci at boot." }
  for _, drv in ipairs(drivers) do
    modprobe[#modprobe + 1] = "softdep " .. drv .. " pre: vfio-pci"
  end
  if #shared == 0 then
    modprobe[#modprobe + 1] = "options vfio-pci ids=" .. table.concat(ids, ",")
  else
    modprobe[#modprobe + 1] = "# ids= would also take " .. table.concat(shared, ", ") ..
      ": the devices are claimed by address in " .. UDEV
    local rules = { "# Written by libpt: driver_override by address, as ids= would take other devices." }
    for _, a in ipairs(addresses) do
      rules[#rules + 1] = string.format(
        'ACTION=="add", SUBSYSTEM=="pci", KERNEL=="%s", ATTR{driver_override}="vfio-pci"', a)
    end
    change(UDEV, table.concat(rules, "\n") .. "\n", "update-initramfs -u -k all")
  end
  if opts.blacklist then
    for _, drv in ipairs(drivers) do modprobe[#modprobe + 1] = "blacklist " .. drv end
  end
  change(MODPROBE, table.concat(modprobe, "\n") .. "\n", "update-initramfs -u -k all")

  -- AMD GPUs with the reset bug: vendor-reset's device_specific method, chosen at every boot
  -- (reset_method is the kernel's, not kept), vendor-reset loaded in the initramfs before it.
  local reset_rules, reset_ids = { "# Written by libpt: vendor-reset's reset for GPUs with the AMD reset bug." }, {}
  for _, d in ipairs(set) do
    local dev = inv:device(d.address)
    local id = dev and dev.reset_bug and string.format("%04x:%04x", dev.vendor_id, dev.device_id)
    if id and not reset_ids[id] then
      reset_ids[id] = true
      reset_rules[#reset_rules + 1] = string.format('ACTION=="add", SUBSYSTEM=="pci", ATTR{vendor}=="0x%04x", ' ..
        'ATTR{device}=="0x%04x", ATTR{reset_method}="device_specific"  # %s', dev.vendor_id, dev.device_id,
        dev.reset_bug)
    end
  end
  if #reset_rules > 1 then change(VENDOR_RESET, table.concat(reset_rules, "\n") .. "\n", "udevadm control --reload") end

  -- initramfs-tools: the vfio modules early, so vfio-pci claims before the host driver.
  local wanted = { "vfio", "vfio_iommu_type1", "vfio_pci" }
  if #reset_rules > 1 then wanted[#wanted + 1] = "vendor-reset" end
  local major, minor = kernel_release(root):match("^(%d+)%.(%d+)")
  if tonumber(major) < 6 or (tonumber(major) == 6 and tonumber(minor) < 2) then
    table.insert(wanted, 2, "vfio_virqfd") -- merged into vfio in 6.2
  end
  local old = read(root, INITRAMFS)
  local have = {}
  for _, line in ipairs(lines_of(old)) do have[line:match("^%s*(%S+)") or ""] = true end
  local new = old or "# List of modules that you want to include in your initramfs.\n"
  if #new > 0 and new:sub(-1) ~= "\n" then new = new .. "\n" end
  for _, mod in ipairs(wanted) do
    if not have[mod] then new = new .. mod .. "\n" end
  end
  change(INITRAMFS, new, "update-initramfs -u -k all")

  -- The kernel command line, where this host's boot loader reads it.
  local host = pt.host()
  local params = opts.cpu and pt.iommu_params(opts.cpu) or host.iommu_params
  local cmdline = read(root, SYSTEMD_BOOT)
  if host.boot_loader == "systemd-boot" and cmdline then
    local line = cmdline:match("^[^\n]*")
    change(SYSTEMD_BOOT, add_params(line, params) .. "\n", "proxmox-boot-tool refresh")
  else
    change(GRUB, M.grub_with(read(root, GRUB) or "", params), "update-grub")
  end
  return changes, commands
end

-- VFs that exist at every boot: libpt-sriov@PF.service (installed with the library, ordered
-- before pve-guests.service, so VMs whose mapping names a VF start after the VFs exist) reads
-- the count and the bounded wait from /etc/libpt/sriov-PF.conf.
function M.sriov_plan(pf, n, wait_ms)
  local path = "/etc/libpt/sriov-" .. pf.address .. ".conf"
  local new = string.format("# Written by libpt: %d virtual functions on %s at boot (libpt-sriov@%s.service)\n" ..
    "VFS=%d\nWAIT_MS=%d\n", n, pf.address, pf.address, n, wait_ms)
  local old = read(pt.root(), path)
  if old == new then return {}, {} end
  return { { path = path, old = old, new = new, mkdir = true } },
    { "systemctl enable libpt-sriov@" .. pf.address .. ".service" }
end

-- Prints the diffs of a plan, or writes it (apply) and says what to run then.
function M.show_changes(changes, commands, what, opts)
  if #changes == 0 then
    print("# the host is already set up for " .. what)
    return
  end
  for _, c in ipairs(changes) do print(M.diff(c.path, c.old, c.new)) end
  if opts.apply then
    for _, b in ipairs(M.apply(changes)) do print("# backup: " .. b) end
    print("# written; now run: " .. table.concat(commands, " && "))
  else
    print("# to apply: --apply, then run: " .. table.concat(commands, " && "))
  end
end

-- What the persist recipe and emit --format host print: the diffs, or the files written.
function M.show(inv, records, opts)
  local changes, commands = M.plan(inv, records, opts)
  local addresses = {}
  for i, r in ipairs(records) do addresses[i] = r.address end
  M.show_changes(changes, commands, table.concat(addresses, " "), opts)
end

-- Writes every change, or none: a failure puts back the files already written.
function M.apply(changes)
  local backups = {}
  for i, c in ipairs(changes) do
    local ok, backup = pt.write_file(c.path, c.new, { backup = true, mkdir = c.mkdir })
    if not ok then
      for j = i - 1, 1, -1 do
        local done = changes[j]
        if done.old then pt.write_file(done.path, done.old) else pt.remove_file(done.path) end
      end
      error(backup .. (i > 1 and " (the files written before it are put back)" or ""), 0)
    end
    backups[#backups + 1] = backup
  end
  return backups
end

return M
