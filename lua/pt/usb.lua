-- USB passthrough to running VMs over QMP: attach by vendor:product (refused when two present
-- devices share it: attach by port then), by physical port or by serial; detach; list.
local pt = require "pt"

local M = {}

local function fail(fmt, ...) error(string.format(fmt, ...), 0) end

-- The QEMU device id libpt gives an attached device (pt_usb_device_id): the same match gives
-- the same id. match: {id =} or {port =}.
function M.device_id(match)
  return pt.usb_device_id(assert(M.resolve(match, {})))
end

-- A physical port as the kernel names it, "BUS-PORT(.PORT)*" (1-2.3): bus and port path, or
-- nil and why. Every port that enters libpt (command lines, configs) is checked here.
function M.parse_port(s)
  if not pt.usb_port_valid(tostring(s)) then
    return nil, string.format("USB port %q: expected BUS-PORT(.PORT)*, e.g. 1-2.3", tostring(s))
  end
  local bus, port = tostring(s):match("^(%d+)%-(.+)$")
  return math.tointeger(tonumber(bus)), port
end

-- Resolves {id = "10c4:ea60"} | {port = "1-2.3"} | {serial = "S"} against the present devices
-- (inv:usb() of an inventory, or {} for none) into what QEMU matches on: {id =}, or the port
-- with its bus and port path (pt_usb_resolve: either half of a physical port, an id two
-- present devices share refused).
function M.resolve(match, devices)
  return pt.usb_resolve({ id = match.id and tostring(match.id) or nil, port = match.port and tostring(match.port) or nil,
    serial = match.serial }, devices)
end

-- What QEMU's usb-host will find for the match (libusb on the running system): {port, bus,
-- devnum, id, node, holder}, or nil, message, errno. A tree under --root is not the running
-- system: false, why.
function M.check(opts, devices)
  local m, err, errno = M.resolve(opts, devices or assert(pt.scan()):usb())
  if not m then return nil, err, errno end
  return pt.usb_host(m)
end

-- Resets the matched device the way a replug would (libusb), refused while a process has it open
-- unless opts.force: where it is afterwards ({port, bus, devnum, was_devnum, ...}).
function M.reset(opts)
  local m, err, errno = M.resolve(opts, assert(pt.scan()):usb())
  if not m then return nil, err, errno end
  return pt.usb_reset(m, { force = opts.force, timeout_ms = opts.timeout_ms })
end

local function connect(opts)
  local q, err, errno = pt.qmp { vm = opts.vm, socket = opts.socket, timeout_ms = opts.timeout_ms }
  if not q then return nil, err, errno end
  return q
end

-- pt.usb.attach{vm = 100 | socket = PATH, id = | port = | serial =, inventory = a snapshot (else
-- one is taken), timeout_ms}: the QEMU device id (pt_usb_attach: resolved and checked as QEMU
-- will find it before QMP, then attached); nil, message, errno, and for EEXIST (attached
-- already) the id.
function M.attach(opts)
  local spec = { vm = opts.vm, socket = opts.socket, timeout_ms = opts.timeout_ms, serial = opts.serial,
    id = opts.id and tostring(opts.id), port = opts.port and tostring(opts.port) }
  return pt.usb_attach(opts.inventory or assert(pt.scan()), spec)
end

-- pt.usb.detach{vm | socket, device = ID | id = | port =}: the device id detached.
function M.detach(opts)
  if opts.device then
    local q, err, errno = connect(opts)
    if not q then return nil, err, errno end
    local ok
    ok, err, errno = q:detach(opts.device)
    q:close()
    if not ok then return nil, err, errno end
    return opts.device
  end
  return pt.usb_detach { vm = opts.vm, socket = opts.socket, timeout_ms = opts.timeout_ms,
    id = opts.id and tostring(opts.id), port = opts.port and tostring(opts.port) }
end

function M.attached(opts)
  local q, err, errno = connect(opts)
  if not q then return nil, err, errno end
  local list
  list, err, errno = q:list()
  q:close()
  if list then table.sort(list, function(a, b) return a.id < b.id end) end
  return list, err, errno
end

local RETRY_MS = 1000

-- The follower's loop (scripts/usb-follow.lua, zigbee --follow): args.vm or args.socket, and
-- args.match (vendor:product), args.port (with args.behind: and every device behind a hub at
-- it) or args.serial. Runs until the process is stopped.
function M.follow(args)
  local target = { vm = args.vm, socket = args.socket }
  -- the port itself, or with args.behind any port behind a hub plugged into it
  local function under(port)
    return port == args.port or (args.behind and port ~= nil and port:sub(1, #args.port + 1) == args.port .. ".")
  end
  local function matches(d)
    -- a physical port is followed on both halves: back at another speed, it is on the peer;
    -- QEMU cannot pass a hub, so behind a port the hubs stay and their devices go one by one
    if args.port then return (under(d.port) or under(d.peer_port)) and not (args.behind and d.hub) end
    if args.serial then return d.serial == args.serial end
    return d.vendor_id .. ":" .. d.product_id == args.match
  end
  -- what QEMU gets: the port when following a port or a serial, else the id
  local function spec(d, inv)
    local s = { vm = target.vm, socket = target.socket, inventory = inv }
    if args.match then s.id = args.match else s.port = d.port end
    return s
  end
  local attached = {} -- port -> device id in QEMU
  local failed = {}   -- port -> true: present, its attach failed; tried again each round
  local function present()
    local inv = assert(pt.scan())
    local found = {}
    for _, d in ipairs(inv:usb()) do
      if matches(d) then found[#found + 1] = d end
    end
    return found, inv
  end
  local function attach(d, inv)
    local devid, err, code, id = M.attach(spec(d, inv)) -- the snapshot present() took: one scan
    if devid then
      attached[d.port], failed[d.port] = devid, nil
      print(string.format("attached %s (%s:%s at %s)", devid, d.vendor_id, d.product_id, d.port))
    elseif code == pt.errno.EEXIST then -- attached already (by an earlier follower)
      attached[d.port], failed[d.port] = id, nil
    else
      if not failed[d.port] then print(string.format("attach at %s failed, trying again: %s", d.port, tostring(err))) end
      failed[d.port] = true
    end
  end
  local function detach(port)
    local devid = attached[port]
    attached[port] = nil
    local ok, err = M.detach { vm = target.vm, socket = target.socket, device = devid }
    print(ok and ("detached " .. devid) or ("detach " .. devid .. ": " .. tostring(err)))
  end
  local monitor, err = pt.monitor()
  if not monitor then error(err, 0) end
  local connected = false
  while true do
    -- (re)connect: the VM may not run yet, or may have restarted
    local q = pt.qmp { vm = target.vm, socket = target.socket, timeout_ms = 2000 }
    if q then
      q:close()
      if not connected then
        connected = true
        attached = {}
        local found, inv = present()
        for _, d in ipairs(found) do attach(d, inv) end
      end
    elseif connected then
      connected = false
      print("the VM went away; waiting for it")
    end
    -- acting on udev's add/bind of the usb_device (sent once udev has handled it)
    local event = monitor:next(RETRY_MS)
    if event and connected then
      if event.action == "add" or event.action == "bind" then
        local found, inv = present()
        for _, d in ipairs(found) do
          if d.port == event.port and not attached[d.port] then attach(d, inv) end
        end
      elseif event.action == "remove" then
        failed[event.port] = nil
        if attached[event.port] then detach(event.port) end
      end
    end
    -- a failed attach (the device still settling, QEMU busy) is tried again, not left
    if connected and next(failed) then
      local still = {}
      local found, inv = present()
      for _, d in ipairs(found) do
        if failed[d.port] and not attached[d.port] then still[d.port] = true; attach(d, inv) end
      end
      for port in pairs(failed) do if not still[port] then failed[port] = nil end end
    end
  end
end

return M
