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
  if not n then return nil, "is not a VM id: must be 100 to 999999999" end
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

-- A file named on the command line, read by libpt (a recipe has no io): {path, text}. The
-- admin's command line alone names files; a hookscript's settings cannot (M.hook_settings).
local function file(v)
  local f, err = io.open(v, "rb")
  local clean = require("pt").clean
  if not f then return nil, "cannot be read: " .. clean(err) end
  local text, rerr = f:read(16 << 20)
  local more = text and f:read(1)
  f:close()
  if not text and rerr then return nil, "cannot be read: " .. clean(rerr) end
  if more then return nil, "is larger than 16 MiB" end
  return { path = v, text = text or "" }
end

M.types = {
  bool = true, string = function(v) return v end, integer = integer, file = file,
  enum = enum, ["pci-addr"] = pci_addr, ["usb-id"] = usb_id, ["usb-port"] = usb_port, vmid = vmid,
}

local PHASES = { ["pre-start"] = true, ["post-start"] = true, ["pre-stop"] = true, ["post-stop"] = true }
M.PHASES = PHASES
local recipe_keys = { name = "string", description = "string", args = "table", run = "function",
                      ["pre-start"] = "function", ["post-start"] = "function",
                      ["pre-stop"] = "function", ["post-stop"] = "function", hookscript = "table" }
local arg_keys = { name = "string", type = "string", help = "string", values = "table",
                   default = true, required = "boolean", metavar = "string" }

-- A recipe's text as it may reach a terminal or a log: libpt's one cleaner (pt_clean_text:
-- control characters and bytes that are not UTF-8 written as \xNN).
local function clean(s)
  return require("pt").clean(tostring(s))
end
M.clean = clean

-- An error value as text, without running a recipe's code (a table's __tostring is its code).
local function error_text(e)
  if type(e) == "string" then return clean(e) end
  return string.format("(error object is a %s value)", type(e))
end
M.error_text = error_text

-- Checks a recipe table; errors name the file. Only with raw access: every table the recipe
-- gives must be plain (no metatable), so reading it runs none of the recipe's code.
function M.validate(recipe, file)
  local function bad(msg) error(file .. ": " .. msg, 0) end
  local function plain(t, what)
    if not rawequal(getmetatable(t), nil) then bad(what .. " must be a plain table (it has a metatable)") end
  end
  plain(recipe, "the recipe")
  for k, v in next, recipe do
    local want = type(k) == "string" and recipe_keys[k]
    if not want then bad("unknown recipe field '" .. clean(k) .. "'") end
    if type(v) ~= want then bad("field '" .. k .. "' must be a " .. want .. ", not a " .. type(v)) end
    if want == "table" then plain(v, "field '" .. k .. "'") end
  end
  for _, k in ipairs { "name", "description" } do
    if rawget(recipe, k) == nil then bad("missing field '" .. k .. "'") end
  end
  local phases = 0
  for phase in pairs(PHASES) do phases = phases + (rawget(recipe, phase) and 1 or 0) end
  if not rawget(recipe, "run") and phases == 0 then bad("needs a run function or a hookscript phase") end
  local seen = {}
  local args = rawget(recipe, "args") or {}
  for k in next, args do
    if math.type(k) ~= "integer" or k < 1 or k > rawlen(args) then bad("args must be a list") end
  end
  for i = 1, rawlen(args) do
    local spec = rawget(args, i)
    local where = "args[" .. i .. "]"
    if type(spec) ~= "table" then bad(where .. " must be a table") end
    plain(spec, where)
    for k, v in next, spec do
      local want = type(k) == "string" and arg_keys[k]
      if not want then bad(where .. ": unknown field '" .. clean(k) .. "'") end
      if want ~= true and type(v) ~= want then bad(where .. "." .. k .. " must be a " .. want) end
      if want == "table" then
        plain(v, where .. "." .. k)
        for j = 1, rawlen(v) do
          if type(rawget(v, j)) ~= "string" then bad(where .. "." .. k .. " must be a list of strings") end
        end
      end
    end
    local default = rawget(spec, "default")
    if default ~= nil and type(default) ~= "string" and type(default) ~= "number" and type(default) ~= "boolean" then
      bad(where .. ".default must be a string, a number or a boolean")
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

-- The help of a validated recipe, its text cleaned.
function M.describe(recipe, file)
  local lines = { string.format("%s: %s", clean(recipe.name), clean(recipe.description)), "",
                  string.format("usage: ptlua %s [OPTIONS]", clean(file)), "" }
  for _, spec in ipairs(recipe.args or {}) do
    local left = "--" .. spec.name
    if spec.type ~= "bool" then
      left = left .. " " .. clean(spec.metavar or (spec.type == "enum" and table.concat(spec.values, "|")) or spec.type:upper())
    end
    local help = clean(spec.help or "")
    if spec.default ~= nil then help = help .. " (default: " .. clean(tostring(spec.default)) .. ")" end
    if spec.required then help = help .. " (required)" end
    lines[#lines + 1] = string.format("  %-28s %s", left, help)
  end
  return table.concat(lines, "\n")
end

-- The sandbox (pt.sandbox), loaded when a recipe that is not trusted, or a hookscript, needs it:
-- a trusted script starts without it.
function M.sandbox(output) return require("pt.sandbox").sandbox(output) end
local function output_for(vm, limit) return require("pt.sandbox").output_for(vm, limit) end

local function load_recipe(file, env)
  local chunk, err = loadfile(file, "t", env)
  if not chunk then error(err, 0) end
  return chunk
end

-- Recipes by name. A name is looked for in the admin's own recipes (/etc/libpt/recipes under
-- the root) first, then in the bundled ones (beside ptlua, or where they were installed).
function M.dirs()
  local pt = require "pt"
  local root = pt.root()
  local dirs = { (root == "/" and "" or root) .. "/etc/libpt/recipes" }
  local setup = pt._setup()
  if setup and setup.recipes then dirs[2] = setup.recipes end
  return dirs
end

-- The path of the recipe NAME (or NAME.lua); nil when no directory has it.
function M.find(name)
  local file = name:gsub("%.lua$", "") .. ".lua"
  for _, dir in ipairs(M.dirs()) do
    for _, f in ipairs(require("pt")._recipe_files(dir)) do
      if f == file then return dir .. "/" .. f end
    end
  end
end

-- SCRIPT as ptlua's command line gives it: a path (it has a slash), else a recipe's name, else
-- (no recipe has that name) a file in the working directory.
local function script_path(word)
  if word:find("/", 1, true) then return word end
  local path = M.find(word)
  if path then return path end
  local f = io.open(word, "r")
  if f then
    f:close()
    return word
  end
  error(string.format("%s: no such recipe or file (ptlua --list names the recipes)", clean(word)), 0)
end

-- Calls a recipe's function fn under the bounds (nil: trusted, none); actions are allowed only
-- in run and the hookscript phases (allow), refused everywhere else, finalizers included.
-- Raises the cleaned error or the bound exceeded.
local function call_recipe(bounds, allow, fn, ...)
  local pt = require "pt"
  if not bounds then return fn(...) end
  pt._loading(not allow)
  local r = table.pack(pt._bounded(bounds, fn, ...))
  pt._loading(true)
  if not r[1] then error(error_text(r[2]), 0) end
  return table.unpack(r, 2, r.n)
end

-- Runs a recipe's top level with every action refused: loading changes nothing on the host.
local function run_top_level(bounds, chunk, ...)
  return (call_recipe(bounds or {}, false, chunk, ...))
end

-- A recipe file loaded as --check loads it: in the sandbox, its top level bounded and acting on
-- nothing. Returns the validated recipe, or the recipe a hookscript snippet names with the
-- snippet's settings ({name, vm, words}; see M.reference).
function M.load_checked(file, bounds)
  local result = run_top_level(bounds, load_recipe(file, M.sandbox(output_for(nil, bounds and bounds.output))))
  if type(result) ~= "table" then error(file .. ": does not return a recipe table", 0) end
  if rawget(result, "recipe") ~= nil then return M.reference(result, file, bounds) end
  return M.validate(result, file)
end

-- A hookscript snippet, as `ptlua hookscript` writes it: { recipe = NAME, vm = N, args = {WORDS} }:
-- the recipe by name, run for VM N with WORDS as its command line. The snippet may lie on a
-- storage other nodes write: every field is checked, raw. Returns the recipe, validated, and the
-- settings {name, vm, words}.
local REFERENCE_KEYS = { recipe = "string", vm = "number", args = "table" }
function M.reference(t, file, bounds)
  local function bad(msg) error(file .. ": " .. msg, 0) end
  if not rawequal(getmetatable(t), nil) then bad("the snippet must be a plain table (it has a metatable)") end
  for k, v in next, t do
    local want = type(k) == "string" and REFERENCE_KEYS[k]
    if not want then bad("unknown field '" .. clean(k) .. "' of a hookscript snippet") end
    if type(v) ~= want then bad("field '" .. k .. "' must be a " .. want .. ", not a " .. type(v)) end
  end
  local name, vm, args = rawget(t, "recipe"), rawget(t, "vm"), rawget(t, "args") or {}
  if not name:match("^[%w][%w_.-]*$") then bad("recipe '" .. clean(name) .. "' is not a recipe's name") end
  vm = math.type(vm) == "integer" and require("pt").vmid(vm)
  if not vm then bad("vm: not a VM id (100 to 999999999)") end
  if not rawequal(getmetatable(args), nil) then bad("args must be a plain list") end
  local words = {}
  for k in next, args do
    if math.type(k) ~= "integer" or k < 1 or k > rawlen(args) then bad("args must be a list") end
  end
  for i = 1, rawlen(args) do
    words[i] = rawget(args, i)
    if type(words[i]) ~= "string" then bad("args must be a list of strings") end
  end
  local path = M.find(name)
  if not path then bad("no recipe '" .. name .. "' here (ptlua --list names them)") end
  return M.load_checked(path, bounds), { name = name, vm = vm, words = words }
end

-- The settings a recipe runs a VM's hookscript with, from the snippet's words, parsed as its
-- command line is (with --vm for a recipe that takes it). nil and why when they do not parse.
function M.hook_settings(recipe, vm, words)
  local argv = {}
  for _, spec in ipairs(recipe.args or {}) do
    if spec.name == "vm" then argv = { "--vm", tostring(vm) } end
    for _, word in ipairs(words) do
      if spec.type == "file" and (word == "--" .. spec.name or word:sub(1, #spec.name + 3) == "--" .. spec.name .. "=") then
        return nil, "--" .. spec.name .. ": a hookscript's settings name no files"
      end
    end
  end
  table.move(words, 1, #words, #argv + 1, argv)
  return M.parse(recipe, argv)
end

-- "ptlua SCRIPT VMID PHASE": Proxmox calling a hookscript. A VM id that is not one (0, 99,
-- 00100) is refused by the one rule, with its one message.
local function hookscript_call(words)
  local vm, phase = words[2], words[3]
  if not (#words == 3 and vm and vm:match("^%d+$") and PHASES[phase]) then return nil, phase end
  local n = require("pt").vmid(vm)
  if not n then error(string.format("VM id '%s': must be 100 to 999999999", vm), 0) end
  return n, phase
end

-- The settings of a hookscript run: a snippet's (settings: M.reference's), else the recipe's own
-- defaults; and the VM's config, read with the config parser.
local function hookscript_args(recipe, vm, settings, file)
  local args = {}
  for _, spec in ipairs(recipe.args or {}) do
    if spec.default ~= nil then args[spec.name] = spec.default
    elseif spec.type == "bool" then args[spec.name] = false end
  end
  if settings then
    local why
    args, why = M.hook_settings(recipe, vm, settings.words)
    if not args then error(string.format("%s: the recipe %s's settings: %s", file, settings.name, why), 0) end
  end
  args.vm = vm
  return args
end

-- The entry point of ptlua: {mode = "run"|"describe"|"check", trusted = bool, words = {...},
-- bounds = {cpu = seconds, memory = bytes, output = bytes} (pt.sandbox's BOUNDS where not given)}. A recipe
-- that is not trusted changes nothing on the host outside run and its hookscript phases, in any
-- mode, and runs within its bounds.
function M.ptlua(o)
  local pt = require "pt"
  local words = o.words
  local vm, phase
  if o.mode == "run" then vm, phase = hookscript_call(words) end
  local bounds = nil
  if not o.trusted then
    bounds = {}
    local BOUNDS = require("pt.sandbox").BOUNDS
    local defaults = (o.mode == "run" and not vm) and BOUNDS.run or BOUNDS.hookscript
    for k, v in pairs(defaults) do
      local given = (o.bounds or {})[k]
      if given == 0 then given = false end -- none
      if given == nil then given = v end
      bounds[k] = given or nil
    end
    pt._loading(true) -- until a run or a phase: --check, --describe, --help, finalizers
  end
  if o.mode == "check" then
    local failed = 0
    for _, file in ipairs(words) do
      local ok, err = pcall(function() M.load_checked(script_path(file), bounds) end)
      if ok then
        print("ok " .. clean(file))
      else
        local text = error_text(err)
        print("FAIL " .. (text:sub(1, #file + 1) == file .. ":" and "" or clean(file) .. ": ") .. text)
        failed = failed + 1
      end
    end
    return failed > 0 and 1 or 0
  end
  if o.mode == "list" then return M.list(bounds) end
  local file = words[1]
  if o.mode == "run" and file == "hookscript" then -- built in: writes a VM's snippet
    return require("pt.snippet").main(table.move(words, 2, #words, 1, {}), bounds)
  end
  local output = (vm or not o.trusted) and output_for(vm or nil, bounds and bounds.output)
  if vm then
    print = output.print -- the modules' output goes where the recipe's does: stderr and syslog
  end
  local env = o.trusted and _G or M.sandbox(output)
  local chunk = load_recipe(script_path(file), env)
  local result
  if o.trusted then
    result = chunk(table.unpack(words, 2))
  else
    result = run_top_level(bounds, chunk, table.unpack(words, 2))
  end
  if type(result) ~= "table" then
    if o.mode == "describe" then error(file .. ": does not return a recipe table", 0) end
    return math.type(result) == "integer" and result or 0
  end
  local settings -- a snippet's: the recipe it names, its VM and its words
  if rawget(result, "recipe") ~= nil then
    result, settings = M.reference(result, file, bounds)
  else
    M.validate(result, file)
  end
  if o.mode == "describe" then
    print(M.describe(result, settings and settings.name or file))
    if settings then
      print(string.format("\n%s: the hookscript of VM %d: the recipe %s with: %s", clean(file), settings.vm,
        settings.name, clean(table.concat(settings.words, " "))))
    end
    return 0
  end
  if settings and not vm then
    io.stderr:write(string.format("ptlua: %s: the hookscript of VM %d (the recipe %s); Proxmox runs it as %s %d PHASE\n",
      clean(file), settings.vm, settings.name, clean(file), settings.vm))
    return 2
  end
  if vm then
    if settings and settings.vm ~= vm then
      output.print(string.format("%s refused: %s is the hookscript of VM %d, not of VM %d", phase, clean(file),
        settings.vm, vm))
      return 1
    end
    local handler = result[phase]
    local ok, args = pcall(hookscript_args, result, vm, settings, file)
    if not ok then
      output.print(string.format("%s refused: %s", phase, error_text(args)))
      return 1
    end
    local hook = { vm = vm, phase = phase }
    if phase == "pre-start" then
      -- the guard, whatever the recipe: Proxmox binds every hostpciN device itself once the
      -- hookscript returns, so a VM that would take the host's disk, NIC or console stops here.
      -- Its assignment (what the VM's lines give it) goes to the phase: read once.
      local ok, a = pcall(require("pt.passthrough").guard_vm, vm,
        { force = args.force, console = args["host-loses-console"] })
      if not ok then
        output.print(string.format("pre-start refused: %s", tostring(a)))
        return 1
      end
      hook.assignment = a
    end
    if not handler then return 0 end -- a phase it does not handle is a no-op
    local ok, status = pcall(call_recipe, bounds, true, handler, args, hook)
    if not ok then
      output.fail(string.format("%s failed: %s", phase, error_text(status)))
      return 1
    end
    return math.type(status) == "integer" and status or 0
  end
  if not result.run then
    io.stderr:write(string.format("ptlua: %s: a hookscript; run it as %s VMID PHASE\n", file, file))
    return 2
  end
  return M.main(result, file, words, bounds)
end

-- ptlua --list: every recipe by name, with its description, the admin's (which hide bundled
-- ones of the same name) marked; each loaded as --check loads it.
function M.list(bounds)
  local seen, rows = {}, {}
  for i, dir in ipairs(M.dirs()) do
    for _, f in ipairs(require("pt")._recipe_files(dir)) do
      local name = f:sub(1, -5)
      if not seen[name] then
        seen[name] = true
        local ok, recipe = pcall(M.load_checked, dir .. "/" .. f, bounds or {})
        local text = ok and clean(recipe.description) or ("cannot be loaded: " .. error_text(recipe))
        rows[#rows + 1] = { clean(name), text .. (i == 1 and " (" .. dir .. ")" or "") }
      end
    end
  end
  rows[#rows + 1] = { "hookscript", "write a VM's Proxmox hookscript that runs a recipe, and set it with qm (built in)" }
  table.sort(rows, function(a, b) return a[1] < b[1] end)
  for _, row in ipairs(rows) do print(string.format("%-16s %s", row[1], row[2])) end
  return 0
end

-- Runs a validated recipe with its command line (words[1] is the script); the result is the
-- exit status.
function M.main(recipe, file, words, bounds)
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
  local status = call_recipe(bounds, true, recipe.run, args)
  return math.type(status) == "integer" and status or 0
end

return M
