-- What the bundled recipes share: binding a list of devices (each with its passthrough set)
-- for a VM, and printing the configuration of a device in any of the emitters' formats.
local pt = require "pt"

local M = {}

M.EMIT = { "proxmox", "qm", "libvirt", "qemu", "mapping" }

-- A fresh scan of the host (opts: pt.scan's).
function M.scan(opts)
  local inv, err = pt.scan(opts)
  if not inv then error(err, 0) end
  return inv
end

-- A fresh scan and the device a recipe was given, checked to be of its kind: what is a word
-- ("storage controller") and kinds the device kinds (pt_device_get_kind) that are one.
function M.device(address, what, kinds)
  local inv = M.scan()
  local dev, err = inv:device(address)
  if not dev then error(err, 0) end
  if what then
    local ok = false
    for _, k in ipairs(kinds) do ok = ok or dev.kind == k end
    if not ok then error(string.format("%s is a %s, not a %s", dev.address, dev.class_name or "device", what), 0) end
  end
  return inv, dev
end

-- What the VM is to get: the devices (objects of inv, or PCI ids; inv nil: the devices' own
-- snapshot) with their passthrough sets,
-- each member guarded (args.force lets host-critical ones go, said on stderr every time); the
-- first refusal raised.
-- An assignment made, and checked: its first refusal raised.
local function checked(a, err)
  if not a then error(err, 0) end
  local ok
  ok, err = a:check()
  if not ok then error(err, 0) end
  return a
end

function M.assign(inv, devices, args)
  local opts = { vm = args.vm, force = args.force, console = args.console }
  if inv then return checked(pt.assign(inv, devices, opts)) end
  return checked(pt.assign(devices, opts))
end

function M.is_gpu(d)
  return d.kind == "gpu"
end

-- The GPU asked for, or the only discrete GPU (integrated ones sit on a root bus, bus 00).
function M.find_gpu(inv, address)
  if address then
    local dev, err = inv:device(address)
    if not dev then error(err, 0) end
    if not M.is_gpu(dev) then error(string.format("%s is a %s, not a GPU", dev.address, dev.class_name or "device"), 0) end
    return dev
  end
  local found = {}
  for d in inv:devices() do
    if M.is_gpu(d) and d.bus ~= 0 then found[#found + 1] = d end
  end
  if #found ~= 1 then
    local list = {}
    for i, d in ipairs(found) do list[i] = d.address end
    error(#found == 0 and "no discrete GPU on this host" or
      "several discrete GPUs (" .. table.concat(list, ", ") .. "): choose one with --gpu", 0)
  end
  return found[1]
end

-- A hookscript's GPU: args.gpu (the script's default), or the GPU among what the VM's hostpci
-- lines give it (addresses and mappings: the assignment the pre-start's guard made, hook's, of a
-- scan of only those devices: in every VM's start path, not the whole host). inv, gpu.
function M.hook_gpu(args, hook)
  if args.gpu then
    local inv, err = pt.scan { devices = { args.gpu } }
    if not inv then error(err, 0) end
    return inv, M.find_gpu(inv, args.gpu)
  end
  local a, err = hook and hook.assignment
  if not a then a, err = pt.assign_vm(args.vm, { force = true }) end -- the guard has spoken
  if not a then error(err, 0) end
  for _, d in ipairs(a:devices()) do
    if M.is_gpu(d) then return a.snapshot, d end
  end
  error("no GPU among the VM's hostpci lines; set the gpu default in the script", 0)
end

-- A GPU with the functions of its slot that go with it (audio, USB-C, UCSI); a set that shares
-- its IOMMU group with other slots' devices refused unless forced.
function M.gpu_devices(inv, gpu, force)
  local devices = { gpu }
  for _, d in ipairs(gpu:companions()) do devices[#devices + 1] = d end
  for _, d in ipairs(devices) do
    if d.verdict == "shared" and not force then
      local x = d:explain()
      error(string.format("%s shares its IOMMU group with devices of other slots: %s (--force takes them too)",
        d.address, x and x.reason or d.verdict), 0)
    end
  end
  return devices
end

-- The common arguments of recipes that take devices for a VM.
function M.args(extra)
  local args = {
    { name = "vm", type = "vmid", help = "the VM" },
    { name = "emit", type = "enum", values = M.EMIT, help = "print the VM's configuration instead of binding" },
    { name = "mapping", type = "string", help = "the mapping name (with --emit mapping)" },
    { name = "place", type = "bool",
      help = "with --emit: the VM's vCPUs, memory (and huge pages) on its devices' NUMA node" },
    { name = "hugepages", type = "enum", values = { "2", "1024" }, help = "with --place: the memory on huge pages of 2 or 1024 MiB" },
    { name = "vcpus", type = "integer", help = "with --place: the vCPUs (default: the VM's cores x sockets)" },
    { name = "memory", type = "integer", metavar = "MiB", help = "with --place: the memory (default: the VM's)" },
    { name = "dry-run", type = "bool", help = "print every write it would make, write nothing" },
    { name = "force", type = "bool", help = "take devices the host needs (see the refusal)" },
    { name = "driver", type = "enum", values = { "vfio-pci", "variant" }, default = "vfio-pci",
      help = "bind to vfio-pci, or to each device's vfio-pci variant driver where it has one (mlx5_vfio_pci...)" },
  }
  for i, spec in ipairs(extra) do table.insert(args, i, spec) end
  return args
end

-- Binds the devices' passthrough sets for the VM, in one transaction (args.console: the host's
-- console was handed over, so its GPU may go). Returns the addresses.
function M.bind(devices, args)
  if not args.vm then error("--vm is required to bind", 0) end
  for _, k in ipairs { "place", "hugepages", "vcpus", "memory" } do
    if args[k] then error("--" .. k .. " goes with --emit (a bind places nothing)", 0) end
  end
  -- the assignment decides what the VM gets and whether it may; the transaction binds it
  local a = M.assign(nil, devices, args)
  local txn, err = pt.bind(a, { vm = args.vm, dry_run = args["dry-run"], timeout_ms = args["timeout-ms"],
    lock_timeout_ms = args["lock-timeout-ms"], variant = args.driver == "variant" })
  if not txn then error(err, 0) end
  local ok
  if args["dry-run"] then
    -- a dry commit makes every decision the commit makes, and writes nothing
    ok, err = txn:commit()
    if not ok then error("would fail: " .. err, 0) end
    for _, step in ipairs(txn:plan()) do print(step) end
    return {}
  end
  ok, err = txn:commit()
  if not ok then error(err, 0) end
  print(string.format("vm %d holds %s", args.vm, table.concat(txn.devices, " ")))
  return txn.devices
end

-- Where the VM runs next to its devices (--place: pt.place), or nil; --hugepages, --vcpus and
-- --memory only with it. A set on no NUMA node, or on several, is refused, naming them.
function M.place(a, args)
  if not args.place then
    for _, k in ipairs { "hugepages", "vcpus", "memory" } do
      if args[k] then error("--" .. k .. " goes with --place", 0) end
    end
    return nil
  end
  -- a VM of Proxmox is sized by its config; libvirt's and QEMU's by these, or a domain's defaults
  local vcpus, memory = args.vcpus, args.memory
  if not a.vm then vcpus, memory = vcpus or 4, memory or 4096 end
  return assert(pt.place(a, { vcpus = vcpus, memory = memory, hugepages = tonumber(args.hugepages) }))
end

-- What QEMU's words cannot say, on stderr as shell comments: stdout stays the one shell line.
function M.say(text)
  io.stderr:write("# ", text, "\n")
end

-- An emission's notes (what its lines cannot say: where QEMU runs, pages short...), on stderr.
function M.say_notes(notes)
  for _, n in ipairs(notes or {}) do M.say(n) end
end

-- The configuration of the devices' sets, in one of M.EMIT: one assignment, guarded as a bind
-- is (a host-critical member refused unless args.force).
function M.emit(inv, devices, args)
  local proxmox = require "pt.proxmox"
  local f = args.emit
  if args.driver == "variant" then
    error("--driver variant goes with a bind: a Proxmox line keeps a device its variant holds (driver=keep)", 0)
  end
  if (f == "proxmox" or f == "qm") and not args.vm then error("--vm is required with --emit " .. f, 0) end
  local a = M.assign(inv, devices, { vm = args.vm, force = args.force })
  local primary = args.primary and devices[1].address or nil
  local place = M.place(a, args)
  if f == "proxmox" or f == "qm" then
    local r = assert(proxmox.emit(a, { vm = args.vm, primary = primary, place = place }))
    print(table.concat(f == "qm" and { r.qm } or r.lines, "\n"))
    if f == "proxmox" then for _, n in ipairs(r.notes) do print("# " .. n) end end
  elseif f == "libvirt" then
    local xml, notes = assert(pt.emit_libvirt(a, nil, place and (args.vm and "vm" .. args.vm or "passthrough"),
      { place = place }))
    print(xml)
    M.say_notes(notes)
  elseif f == "qemu" then
    local words, notes = assert(pt.emit_qemu(a, nil, { primary = primary, place = place }))
    print(pt.shell_quote(words))
    M.say_notes(notes)
  elseif f == "mapping" then
    if not args.mapping then error("--emit mapping needs --mapping NAME", 0) end
    proxmox.print_mapping(assert(proxmox.emit_mapping(args.mapping, a, { { name = "localhost", inventory = inv } })))
  end
end

-- A pre-start's guard: every hostpciN line of the VM's config (addresses and mappings) against
-- the assignment, before anything is bound; the first refusal raised (the hookscript exits 1).
-- opts.force: the script's own default lets host-critical devices go, said every time;
-- opts.console: the script hands the host's console over (single-gpu), so the console's GPU may go.
function M.guard_vm(vm, opts)
  return checked(pt.assign_vm(vm, { force = opts and opts.force, console = opts and opts.console }))
end

return M
