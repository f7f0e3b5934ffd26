-- USB passthrough to running VMs over QMP: attach by vendor:product (refused when two present
-- devices share it: attach by port then), by physical port or by serial; detach; list.
local pt = require "pt"

local M = {}

local function fail(fmt, ...) error(string.format(fmt, ...), 0) end

-- The QEMU device id libpt gives an attached device: the same match gives the same id.
function M.device_id(match)
  if match.port then return "pt-usb-" .. match.port:gsub("[%-%.]", "_") end
  return "pt-usb-" .. match.id:gsub(":", "_")
end

-- Resolves {id = "10c4:ea60"} | {port = "1-2.3"} | {serial = "S"} against the present devices
-- into what QEMU matches on: vendor/product, or bus and port.
function M.resolve(match, devices)
  if match.port then
    local bus, port = tostring(match.port):match("^(%d+)%-([%d%.]+)$")
    if not bus or port:match("%.%.") or port:match("%.$") then
      fail("USB port %q: expected BUS-PORT(.PORT)*, e.g. 1-2.3", tostring(match.port))
    end
    return { port = match.port, bus = math.tointeger(tonumber(bus)), hostport = port }
  end
  if match.serial then
    for _, d in ipairs(devices) do
      if d.serial == match.serial then return M.resolve({ port = d.port }, devices) end
    end
    fail("no USB device with serial %q", match.serial)
  end
  local id = tostring(match.id or ""):lower()
  if not id:match("^%x%x%x%x:%x%x%x%x$") then fail("USB id %q: expected VVVV:PPPP, e.g. 10c4:ea60", tostring(match.id)) end
  local ports = {}
  for _, d in ipairs(devices) do
    if d.vendor_id .. ":" .. d.product_id == id then ports[#ports + 1] = d.port end
  end
  if #ports > 1 then
    fail("%s matches %d devices, at ports %s: attach by port instead (--port)", id, #ports, table.concat(ports, ", "))
  end
  return { id = id }
end

local function connect(opts)
  local q, err, errno = pt.qmp { vm = opts.vm, socket = opts.socket, timeout_ms = opts.timeout_ms }
  if not q then return nil, err, errno end
  return q
end

-- pt.usb.attach{vm = 100 | socket = PATH, id = | port = | serial = }: the QEMU device id.
function M.attach(opts)
  local inv = assert(pt.scan())
  local m = M.resolve(opts, inv:usb())
  local q, err, errno = connect(opts)
  if not q then return nil, err, errno end
  local devid = M.device_id(m)
  local ok
  if m.port then
    ok, err, errno = q:attach { id = devid, bus = m.bus, port = m.hostport }
  else
    ok, err, errno = q:attach { id = devid, usb_id = m.id }
  end
  q:close()
  if not ok then return nil, err, errno end
  return devid
end

function M.detach(opts)
  local q, err, errno = connect(opts)
  if not q then return nil, err, errno end
  local devid = opts.device or M.device_id(M.resolve(opts, {}))
  local ok
  ok, err, errno = q:detach(devid)
  q:close()
  if not ok then return nil, err, errno end
  return devid
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

return M
