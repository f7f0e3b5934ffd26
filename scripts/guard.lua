#!/usr/bin/env ptlua
-- The guard for VMs whose devices Proxmox binds itself (hostpciN lines, mappings): as the VM's
-- hookscript (ptlua hookscript --vm 100 --recipe guard) its pre-start stops the start, before
-- anything is bound, when a hostpciN line would hand the VM a device the host needs (the disk
-- it boots from, the default route's NIC, the console, the only keyboard). Every libpt
-- hookscript does the same at pre-start; this one does nothing else. Run by hand, it shows what
-- a VM's lines give it and whether the guard lets it start.
local passthrough = require "pt.passthrough"

return {
  name = "guard",
  description = "stop a VM's start when its hostpci lines would take a device the host needs; a hookscript",
  args = {
    { name = "vm", type = "vmid", required = true, help = "the VM whose config to check" },
    { name = "force", type = "bool",
      help = "let host-critical devices go all the same (said every time; as a hookscript: this default)" },
  },
  run = function(args)
    local a, err = require("pt").assign_vm(args.vm, { force = args.force })
    if not a then error(err, 0) end
    local sources = a:sources()
    for i, d in ipairs(a:devices()) do
      print(string.format("%s %s: %s (%s)%s", sources[i], d.address, d.class_name or "device", d.kind,
        d.critical and ("; host-critical: " .. d.critical) or ""))
    end
    local refusals = a:refusals()
    for _, r in ipairs(refusals) do print("refused: " .. r) end
    if #refusals > 0 then
      print(string.format("vm %d would not start with a libpt hookscript", args.vm))
      return 1
    end
    assert(a:check())
    print(string.format("vm %d may start: %d device%s", args.vm, #sources, #sources == 1 and "" or "s"))
  end,
  -- the guard itself runs before any pre-start (pt.recipe): nothing is left to do here
  ["pre-start"] = function() end,
}
