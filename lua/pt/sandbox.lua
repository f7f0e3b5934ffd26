-- The sandbox of recipes that are not trusted, their bounds and their output: what pt.recipe
-- runs a recipe in. A recipe from elsewhere, run as root, reaches the host only through what
-- this environment gives it (README, "Recipes").
local M = {}

local function clean(s)
  return require("pt").clean(tostring(s))
end

-- A read-only view of a table: reads go through (plain tables inside it are views too; a
-- table with a metatable, such as json.null, is a value), writes and getmetatable are refused.
-- What the sandbox hands out of the trusted code is only views.
local views = setmetatable({}, { __mode = "k" })
local function readonly(t, hide)
  if type(t) ~= "table" or (getmetatable(t) ~= nil and not hide) then return t end
  if views[t] then return views[t] end
  local view = setmetatable({}, {
    __index = function(_, k)
      if hide and hide[k] then return nil end
      return readonly(t[k])
    end,
    __newindex = function(_, k) error("attempt to change a field of a libpt module (" .. tostring(k) .. ")", 2) end,
    __pairs = function()
      return function(_, k)
        local v
        repeat k, v = next(t, k) until k == nil or not (hide and hide[k])
        return k, readonly(v)
      end, t, nil
    end,
    __len = function() return #t end,
    __metatable = false,
  })
  views[t] = view
  return view
end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- The modules a recipe may require, and what of them it does not get: generic writers.
M.MODULES = {
  ["pt.json"] = {}, ["pt.proxmox"] = {}, ["pt.topology"] = {},
  ["pt.passthrough"] = {}, ["pt.usb"] = {}, ["pt.persist"] = { apply = true }, ["pt.cluster"] = {},
}
-- Of pt itself: the generic file writers and the loader's switch.
-- pt.syslog too: a recipe's output reaches syslog through print, counted and cleaned.
local PT_HIDDEN = { write_file = true, remove_file = true, read_host_file = true, set_hookscript = true, _loading = true,
                    _bounded = true, _exceeded = true, _exceed = true, syslog = true }

-- The environment a recipe runs in: the safe parts of Lua's library (copies: a recipe cannot
-- change what libpt's own modules use), print, and pt. No io, debug, os.execute, loading of
-- code or string.dump; getmetatable of a string, a pt object or a module gives false; the
-- host is reached only through pt's typed actions (scan, bind, restore, USB, the host plan),
-- and read through pt.read_file, pt.listdir, pt.readlink under /sys, /dev/disk, /etc/pve and
-- /run/libpt of the root.
function M.sandbox(output)
  local real_pt = require "pt"
  -- Strings share one metatable with the trusted code: lock it, and take string.dump away.
  string.dump = nil
  local smt = getmetatable("")
  if smt then smt.__metatable = false end -- false once locked (--check makes several sandboxes)
  local safe_string = copy(string)
  local pt_hide = copy(PT_HIDDEN)
  local pt = readonly(setmetatable({
    warn = function(...) output.warn(table.concat({ ... }, " ")) end,
  }, { __index = function(_, k)
    if not pt_hide[k] and not (type(k) == "string" and k:sub(1, 1) == "_") then return real_pt[k] end
  end }), pt_hide)
  -- a bound once exceeded is raised again past every pcall of the recipe's
  local function rethrow(...)
    local why = real_pt._exceeded()
    if why then error(why, 0) end
    return ...
  end
  local env = {
    string = safe_string, table = copy(table), math = copy(math), utf8 = copy(utf8),
    print = function(...) output.print(...) end,
    os = { time = os.time, getenv = os.getenv, date = os.date, clock = os.clock },
    pt = pt,
    assert = assert, error = error, ipairs = ipairs, pairs = pairs, next = next,
    pcall = function(...) return rethrow(pcall(...)) end,
    xpcall = function(...) return rethrow(xpcall(...)) end,
    select = select, tonumber = tonumber, tostring = tostring,
    type = type, rawequal = rawequal, rawget = rawget, rawlen = rawlen, rawset = rawset,
    -- no finalizers: one would run outside the recipe's bounds (Lua runs them with hooks off)
    setmetatable = function(t, mt)
      if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
        error("setmetatable: a recipe's tables have no finalizer (__gc)", 2)
      end
      return setmetatable(t, mt)
    end,
    getmetatable = getmetatable, _VERSION = _VERSION,
  }
  env.require = function(name)
    if name == "pt" then return pt end
    local hidden = type(name) == "string" and M.MODULES[name]
    if hidden then return readonly(require(name), hidden) end
    error("require '" .. tostring(name) .. "': recipes load only the pt modules", 2)
  end
  env._G = env
  return env
end

-- The bounds of a recipe that is not trusted, unless ptlua's options say otherwise (0: none):
-- a few seconds of CPU and tens of MiB suit a hookscript, which holds up a VM's start, and
-- --check and --describe, which do nothing; a run from the command line may report on a host of
-- thousands of functions.
M.BOUNDS = {
  hookscript = { cpu = 10, memory = 64 << 20, output = 1 << 20 },
  run = { cpu = 120, memory = 1 << 30, output = 1 << 30 },
}

-- Output: on stdout and stderr normally; in a hookscript, stderr and syslog with the VM id. At
-- most limit bytes (nil: no bound); past it the recipe fails, naming the bound.
function M.output_for(vm, limit)
  local pt = require "pt"
  local written = 0
  local function count(n)
    written = written + n
    if limit and written > limit then
      pt._exceed(string.format("the recipe's output went past its bound of %d KiB (ptlua --output-kib)", limit >> 10))
    end
  end
  local function line(...)
    if select("#", ...) == 1 and type((...)) == "string" then return (...) end -- a report: no copy
    local parts = {}
    for i = 1, select("#", ...) do
      local v = (select(i, ...))
      parts[i] = limit and type(v) ~= "string" and type(v) ~= "number" and type(v) ~= "boolean" and v ~= nil
        and string.format("(%s)", type(v)) or tostring(v) -- no __tostring of a recipe's value
    end
    return table.concat(parts, "\t")
  end
  if not vm then
    return {
      print = function(...)
        local text = line(...)
        count(#text + 1)
        io.stdout:write(text, "\n")
        io.stdout:flush() -- a line as it comes (a follower's lines reach journald so)
      end,
      warn = function(msg)
        msg = tostring(msg)
        count(#msg + 10)
        io.stderr:write("warning: ", msg, "\n")
      end,
    }
  end
  local function both(msg)
    count(#msg + 12)
    msg = clean(msg) -- syslog and a terminal: no escape sequences
    io.stderr:write(string.format("libpt[%d]: %s\n", vm, msg))
    pt.syslog(string.format("vm %d: %s", vm, msg))
  end
  return { print = function(...) both(line(...)) end, warn = function(msg) both("warning: " .. tostring(msg)) end,
           -- libpt's own last word (a phase failed), past any bound
           fail = function(msg) limit = nil; both(msg) end }
end

return M
