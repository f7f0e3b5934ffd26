-- `ptlua hookscript`: a VM's Proxmox hookscript in one command. It writes a snippet, a few lines
-- that name a recipe and its settings (the recipe stays where it was installed, so an upgrade
-- reaches every VM), executable, into a storage's snippets directory, and sets it as the VM's
-- hookscript with `qm set` (pt.set_hookscript: Proxmox writes VM configs under its own lock,
-- libpt never edits one). pt.recipe runs the snippet (M.reference there).
local M = {}

local HELP = [[
hookscript: write a VM's Proxmox hookscript that runs a recipe, and set it with qm

usage: ptlua hookscript --vm VMID --recipe NAME [RECIPE OPTIONS...] [OPTIONS]

  --vm VMID          the VM (required)
  --recipe NAME      the recipe its phases run (ptlua --list); the recipe's options follow as on
                     its own command line (ptlua NAME --help) and become the hookscript's settings
  --storage ID       the storage whose snippets directory takes it (default: local)
  --name FILE        the snippet's file name (default: libpt-VMID.lua)
  --replace          replace the VM's hookscript when it has another one
  --remove           take the VM's hookscript away (when it is this one) and remove the snippet
  --dry-run          print the snippet, the file it would be and the qm command; change nothing
  --qm PROGRAM       the qm that sets it (default /usr/sbin/qm; none under --root: the command
                     is printed for the admin to run)]]

local VALUES = { vm = true, recipe = true, storage = true, name = true, qm = true }
local FLAGS = { replace = true, remove = true, ["dry-run"] = true }

local function usage(msg)
  io.stderr:write("ptlua hookscript: ", msg, " (see ptlua hookscript --help)\n")
  return 2
end

-- The snippet's text: ptlua's own path as its interpreter (an absolute path: Proxmox runs
-- hookscripts under PATH=/sbin:/bin:/usr/sbin:/usr/bin, and under another root that root), the
-- command that wrote it, and the reference pt.recipe reads.
function M.text(vm, name, words, command)
  local pt = require "pt"
  local clean = require("pt.recipe").clean
  local exe = (pt._setup() or {}).interpreter
  if not exe or exe:sub(1, 1) ~= "/" or exe:find("[%s%c]") then
    error(string.format("ptlua's own path (%s) cannot be a hookscript's interpreter", clean(exe or "unknown")), 0)
  end
  local shebang = "#!" .. exe
  local root = pt.root()
  if root ~= "/" then
    if root:sub(1, 1) ~= "/" or root:find("[%s%c]") then
      error(string.format("--root %s: a hookscript needs an absolute root without spaces", clean(root)), 0)
    end
    shebang = shebang .. " --root=" .. root
  end
  local quoted = {}
  for i, w in ipairs(words) do quoted[i] = string.format("%q", w) end
  return table.concat({
    shebang,
    string.format("-- The Proxmox hookscript of VM %d, written by:", vm),
    "--   ptlua hookscript " .. clean(table.concat(command, " ")),
    string.format("-- Proxmox runs it as THIS-FILE %d PHASE; ptlua runs the recipe's phase with these", vm),
    string.format("-- settings. `ptlua hookscript --vm %d --remove` takes it away.", vm),
    string.format("return { recipe = %q, vm = %d, args = { %s } }", name, vm, table.concat(quoted, ", ")),
    "",
  }, "\n")
end

-- ptlua hookscript ARGS: the exit status.
function M.main(argv, bounds)
  local pt = require "pt"
  local recipes = require "pt.recipe"
  local opts, rest = {}, {}
  local i = 1
  while i <= #argv do
    local word = argv[i]
    local key, value = word:match("^%-%-([%w-]+)=(.*)$")
    key = key or word:match("^%-%-([%w-]+)$")
    if word == "--help" or word == "-h" then
      print(HELP)
      return 0
    elseif key and VALUES[key] then
      if not value then
        i = i + 1
        value = argv[i]
        if value == nil then return usage("--" .. key .. " needs a value") end
      end
      opts[key] = value
    elseif key and FLAGS[key] and not value then
      opts[key] = true
    else
      rest[#rest + 1] = word -- the recipe's
    end
    i = i + 1
  end
  if not opts.vm then return usage("--vm is required") end
  local vm = pt.vmid(opts.vm)
  if not vm then error(string.format("VM id '%s': must be 100 to 999999999", recipes.clean(opts.vm)), 0) end
  local request = { vm = vm, storage = opts.storage or "local", name = opts.name or string.format("libpt-%d.lua", vm),
                    qm = opts.qm, dry_run = opts["dry-run"], replace = opts.replace, remove = opts.remove }
  if opts.remove then
    if opts.recipe or #rest > 0 then return usage("--remove takes no recipe and no recipe options") end
  else
    if not opts.recipe then return usage("--recipe is required (ptlua --list names the recipes)") end
    local name = opts.recipe:gsub("%.lua$", "")
    local path = name:match("^[%w][%w_.-]*$") and recipes.find(name)
    if not path then
      error(string.format("%s: no such recipe (ptlua --list names them)", recipes.clean(opts.recipe)), 0)
    end
    local recipe, settings = recipes.load_checked(path, bounds or {})
    if settings then error(path .. ": a hookscript snippet, not a recipe", 0) end
    local phases = false
    for phase in pairs(recipes.PHASES) do phases = phases or recipe[phase] ~= nil end
    if not phases then
      error(string.format("the recipe %s has no hookscript phase (pre-start, post-start, pre-stop, post-stop)", name), 0)
    end
    -- the settings parsed now, as the hookscript will parse them: a typo fails here, not at the VM's start
    local ok, why = recipes.hook_settings(recipe, vm, rest)
    if not ok then return usage(string.format("the recipe %s: %s", name, why)) end
    local command = { "--vm", tostring(vm), "--recipe", name, table.unpack(rest) }
    if opts.storage then table.move({ "--storage", opts.storage }, 1, 2, #command + 1, command) end
    request.text = M.text(vm, name, rest, command)
  end
  pt._loading(false) -- libpt's own command, past the recipe's loading
  local steps, by_hand = pt.set_hookscript(request)
  if not steps then error(by_hand, 0) end
  if request.dry_run and request.text then
    print("The snippet:")
    print(request.text)
  end
  print(request.dry_run and "Would do:" or "Done:")
  for _, step in ipairs(steps) do print("  " .. step) end
  if by_hand then
    print("qm is not on this host: run the command above on the Proxmox node (never edit a VM's config by hand: "
      .. "Proxmox writes it under its own lock)")
  end
  return 0
end

return M
