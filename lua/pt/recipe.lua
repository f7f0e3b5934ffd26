-- Recipes: a script that returns a table of name, description, typed args and a run
-- function. Loading a recipe runs nothing; this module validates the table and the command
-- line before anything runs, prints help, and calls run with the parsed arguments.
local M = {}

-- The one PCI id grammar (libpt's pt_pci_id_normalize): a function or, as Proxmox writes it, a
-- whole slot (01:00); canonical.
local function pci_addr(v)
  local s = require("pt").pci_id(v)
  if not s then
    return nil, "is not a PCI address (expected DDDD:BB:SS.F, e.g. 0000:01:00.0, or a slot, 01:00)"
  end
  return s
end

local function usb_id(v)
  local s = v:lower()
  if not s:match("^%x%x%x%x:%x%x%x%x$") then
    return nil, "is not a USB id (expected VVVV:PPPP, e.g. 10c4:ea60)"
  end
  return s
end

local function vmid(v)
  local n = require("pt").vmid(v)
  if not n then return nil, "is not a VM id (100 to 999999999)" end
  return n
end

local function integer(v)
  local n = v:match("^%-?%d+$") and math.tointeger(tonumber(v))
  if not n then return nil, "is not an integer" end
  return n
end

local function enum(v, spec)
  for _, allowed in ipairs(spec.values) do
    if v == allowed then return v end
  end
  return nil, "is not one of " .. table.concat(spec.values, ", ")
end

local function usb_port(v)
  local bus, why = require("pt.usb").parse_port(v)
  if not bus then return nil, "is not a USB port (expected BUS-PORT(.PORT)*, e.g. 1-2.3)" end
  return v
end

M.types = {
  bool = true, string = function(v) return v end, integer = integer,
  enum = enum, ["pci-addr"] = pci_addr, ["usb-id"] = usb_id, ["usb-port"] = usb_port, vmid = vmid,
}

local PHASES = { ["pre-start"] = true, ["post-start"] = true, ["pre-stop"] = true, ["post-stop"] = true }
M.PHASES = PHASES
local recipe_keys = { name = "string", description = "string", args = "table", run = "function",
                      ["pre-start"] = "function", ["post-start"] = "function",
                      ["pre-stop"] = "function", ["post-stop"] = "function", hookscript = "table" }
local arg_keys = { name = "string", type = "string", help = "string", values = "table",
                   default = true, required = "boolean", metavar = "string" }

-- Checks a recipe table; errors name the file.
function M.validate(recipe, file)
  local function bad(msg) error(file .. ": " .. msg, 0) end
  for k, v in pairs(recipe) do
    local want = recipe_keys[k]
    if not want then bad("unknown recipe field '" .. tostring(k) .. "'") end
    if type(v) ~= want then bad("field '" .. k .. "' must be a " .. want .. ", not a " .. type(v)) end
  end
  for _, k in ipairs { "name", "description" } do
    if recipe[k] == nil then bad("missing field '" .. k .. "'") end
  end
  local phases = 0
  for phase in pairs(PHASES) do phases = phases + (recipe[phase] and 1 or 0) end
  if not recipe.run and phases == 0 then bad("needs a run function or a hookscript phase") end
  local seen = {}
  for i, spec in ipairs(recipe.args or {}) do
    local where = "args[" .. i .. "]"
    if type(spec) ~= "table" then bad(where .. " must be a table") end
    for k, v in pairs(spec) do
      local want = arg_keys[k]
      if not want then bad(where .. ": unknown field '" .. tostring(k) .. "'") end
      if want ~= true and type(v) ~= want then bad(where .. "." .. k .. " must be a " .. want) end
    end
    if not spec.name or not spec.name:match("^%l[%l%d%-]*$") then
      bad(where .. ": name must be lower-case words joined by '-'")
    end
    if seen[spec.name] then bad(where .. ": '" .. spec.name .. "' is declared twice") end
    seen[spec.name] = true
    if not M.types[spec.type] then bad(where .. " (" .. spec.name .. "): unknown type '" .. tostring(spec.type) .. "'") end
    if spec.type == "enum" and not spec.values then bad(where .. " (" .. spec.name .. "): an enum needs values") end
  end
  return recipe
end

-- Parses "--name value", "--name=value" and bare "--flag" for bools.
function M.parse(recipe, argv)
  local specs, args = {}, {}
  for _, spec in ipairs(recipe.args or {}) do
    specs[spec.name] = spec
    if spec.default ~= nil then args[spec.name] = spec.default
    elseif spec.type == "bool" then args[spec.name] = false end
  end
  local i = 1
  while i <= #argv do
    local word = argv[i]
    local name, value = word:match("^%-%-([^=]+)=(.*)$")
    name = name or word:match("^%-%-(.+)$")
    local spec = name and specs[name]
    if not spec then
      return nil, (name and "unknown option '--" .. name .. "'" or "unexpected argument '" .. word .. "'")
    end
    if spec.type == "bool" then
      if value then return nil, "--" .. name .. " takes no value" end
      args[name] = true
    else
      if not value then
        i = i + 1
        value = argv[i]
        if value == nil then return nil, "--" .. name .. " needs a value" end
      end
      local parsed, why = M.types[spec.type](value, spec)
      if parsed == nil then return nil, "--" .. name .. " '" .. value .. "' " .. why end
      args[name] = parsed
    end
    i = i + 1
  end
  for _, spec in ipairs(recipe.args or {}) do
    if spec.required and args[spec.name] == nil then return nil, "--" .. spec.name .. " is required" end
  end
  return args
end

function M.describe(recipe, file)
  local lines = { string.format("%s: %s", recipe.name, recipe.description), "",
                  string.format("usage: ptlua %s [OPTIONS]", file), "" }
  for _, spec in ipairs(recipe.args or {}) do
    local left = "--" .. spec.name
    if spec.type ~= "bool" then
      left = left .. " " .. (spec.metavar or (spec.type == "enum" and table.concat(spec.values, "|")) or spec.type:upper())
    end
    local help = spec.help or ""
    if spec.default ~= nil then help = help .. " (default: " .. tostring(spec.default) .. ")" end
    if spec.required then help = help .. " (required)" end
    lines[#lines + 1] = string.format("  %-28s %s", left, help)
  end
  return table.concat(lines, "\n")
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
  ["pt.json"] = {}, ["pt.proxmox"] = {}, ["pt.libvirt"] = {}, ["pt.qemu"] = {}, ["pt.topology"] = {},
  ["pt.passthrough"] = {}, ["pt.usb"] = {}, ["pt.persist"] = { apply = true }, ["pt.cluster"] = {},
}
-- Of pt itself: the generic file writers and the loader's switch.
local PT_HIDDEN = { write_file = true, remove_file = true, read_host_file = true, _loading = true }

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
  }, { __index = function(_, k) if not pt_hide[k] then return real_pt[k] end end }), pt_hide)
  local env = {
    string = safe_string, table = copy(table), math = copy(math), utf8 = copy(utf8),
    print = function(...) output.print(...) end,
    os = { time = os.time, getenv = os.getenv, date = os.date, clock = os.clock },
    pt = pt,
    assert = assert, error = error, ipairs = ipairs, pairs = pairs, next = next,
    pcall = pcall, xpcall = xpcall, select = select, tonumber = tonumber, tostring = tostring,
    type = type, rawequal = rawequal, rawget = rawget, rawlen = rawlen, rawset = rawset,
    setmetatable = setmetatable, getmetatable = getmetatable, _VERSION = _VERSION,
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

-- Output: on stdout and stderr normally; in a hookscript, stderr and syslog with the VM id.
local function output_for(vm)
  local function line(...)
    local parts = {}
    for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
    return table.concat(parts, "\t")
  end
  if not vm then
    return {
      print = print,
      warn = function(msg) io.stderr:write("warning: ", msg, "\n") end,
    }
  end
  local pt = require "pt"
  local function both(msg)
    io.stderr:write(string.format("libpt[%d]: %s\n", vm, msg))
    pt.syslog(string.format("vm %d: %s", vm, msg))
  end
  return { print = function(...) both(line(...)) end, warn = function(msg) both("warning: " .. msg) end }
end

local function load_recipe(file, env)
  local chunk, err = loadfile(file, "t", env)
  if not chunk then error(err, 0) end
  return chunk
end

-- Runs a recipe's top level with every action refused: loading changes nothing on the host.
local function run_top_level(chunk, ...)
  local pt = require "pt"
  pt._loading(true)
  local ok, result = pcall(chunk, ...)
  pt._loading(false)
  if not ok then error(result, 0) end
  return result
end

-- "ptlua SCRIPT VMID PHASE": Proxmox calling a hookscript.
local function hookscript_call(words)
  local vm, phase = words[2], words[3]
  return #words == 3 and vm and vm:match("^%d+$") and PHASES[phase] and math.tointeger(tonumber(vm)), phase
end

-- The settings of a hookscript run: the recipe's own defaults (edited into the snippet) and
-- the VM's config, read with the config parser.
local function hookscript_args(recipe, vm)
  local args = {}
  for _, spec in ipairs(recipe.args or {}) do
    if spec.default ~= nil then args[spec.name] = spec.default
    elseif spec.type == "bool" then args[spec.name] = false end
  end
  args.vm = vm
  local proxmox = require "pt.proxmox"
  local ok, config = pcall(proxmox.read_config, require("pt").root(), vm)
  args.config = ok and config or nil
  return args
end

-- The entry point of ptlua: {mode = "run"|"describe"|"check", trusted = bool, words = {...}}.
function M.ptlua(o)
  local words = o.words
  if o.mode == "check" then
    local failed = 0
    for _, file in ipairs(words) do
      local ok, err = pcall(function()
        local result = run_top_level(load_recipe(file, M.sandbox(output_for(nil))))
        if type(result) ~= "table" then error(file .. ": does not return a recipe table", 0) end
        M.validate(result, file)
      end)
      if ok then print("ok " .. file) else print("FAIL " .. tostring(err)); failed = failed + 1 end
    end
    return failed > 0 and 1 or 0
  end
  local file = words[1]
  local vm, phase = hookscript_call(words)
  local output = output_for(vm or nil)
  if vm then
    print = output.print -- the modules' output goes where the recipe's does: stderr and syslog
  end
  local env = o.trusted and _G or M.sandbox(output)
  local chunk = load_recipe(file, env)
  local result
  if o.trusted then
    result = chunk(table.unpack(words, 2))
  else
    result = run_top_level(chunk, table.unpack(words, 2))
  end
  if type(result) ~= "table" then
    if o.mode == "describe" then error(file .. ": does not return a recipe table", 0) end
    return math.type(result) == "integer" and result or 0
  end
  M.validate(result, file)
  if o.mode == "describe" then
    print(M.describe(result, file))
    return 0
  end
  if vm then
    local handler = result[phase]
    local args = hookscript_args(result, vm)
    if phase == "pre-start" then
      -- the guard, whatever the recipe: Proxmox binds every hostpciN device itself once the
      -- hookscript returns, so a VM that would take the host's disk, NIC or console stops here
      local ok, err = pcall(require("pt.passthrough").guard_vm, vm,
        { force = args.force, console = args["host-loses-console"] })
      if not ok then
        output.print(string.format("pre-start refused: %s", tostring(err)))
        return 1
      end
    end
    if not handler then return 0 end -- a phase it does not handle is a no-op
    local ok, status = pcall(handler, args, { vm = vm, phase = phase })
    if not ok then
      output.print(string.format("%s failed: %s", phase, tostring(status)))
      return 1
    end
    return math.type(status) == "integer" and status or 0
  end
  if not result.run then
    io.stderr:write(string.format("ptlua: %s: a hookscript; run it as %s VMID PHASE\n", file, file))
    return 2
  end
  return M.main(result, file, words)
end

-- Runs a validated recipe with its command line (words[1] is the script); the result is the
-- exit status.
function M.main(recipe, file, words)
  local argv = table.move(words, 2, #words, 1, {})
  for _, word in ipairs(argv) do
    if word == "--help" or word == "-h" then
      print(M.describe(recipe, file))
      return 0
    end
  end
  local args, err = M.parse(recipe, argv)
  if not args then
    io.stderr:write(string.format("ptlua: %s: %s (see --help)\n", file, err))
    return 2
  end
  local status = recipe.run(args)
  return math.type(status) == "integer" and status or 0
end

return M
