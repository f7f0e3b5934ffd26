-- Host persistence: what makes a passthrough set go to vfio-pci at every boot, planned by
-- libpt's C API (pt_host_plan_new: modprobe.d softdeps and ids= or a udev rule by address,
-- blacklist lines only when asked, vendor-reset's rule, the initramfs modules, the kernel
-- command line for GRUB or systemd-boot); shown as diffs against the files there, applied
-- atomically with a backup of each file changed.
local pt = require "pt"

local M = {}

-- A unified diff (one hunk with all context), in memory linear in the files' size.
M.diff = pt.diff

-- /etc/default/grub with the parameters added to the GRUB_CMDLINE_LINUX_DEFAULT assignment
-- that takes effect; comments never edited.
function M.grub_with(grub, params)
  return pt.grub_with_params(grub, table.concat(params, " "))
end

-- The plan for the set (its records or addresses, or an assignment: pt.assign): opts.blacklist,
-- opts.cpu (a vendor), opts.force (host-critical members too; the guard refuses them otherwise),
-- opts.remove (take the set out of what libpt persisted; every other set stays).
function M.plan(inv, set, opts)
  opts = opts or {}
  if type(set) == "userdata" then
    return pt.host_plan(set, nil, { blacklist = opts.blacklist, cpu = opts.cpu, remove = opts.remove,
      no_d3cold = opts.no_d3cold })
  end
  local addresses = {}
  for i, d in ipairs(set) do addresses[i] = type(d) == "table" and d.address or d end
  return pt.host_plan(inv, addresses, { blacklist = opts.blacklist, cpu = opts.cpu, force = opts.force,
    remove = opts.remove, no_d3cold = opts.no_d3cold })
end

-- VFs that exist at every boot: libpt-sriov@PF.service (installed with the library, ordered
-- before pve-guests.service, so VMs whose mapping names a VF start after the VFs exist) reads
-- the count and the bounded wait from /etc/libpt/sriov-PF.conf.
function M.sriov_plan(pf, n, wait_ms, vf_driver)
  return pt.sriov_plan(pf, n, wait_ms, vf_driver)
end

-- Prints the diffs of a plan, or writes it (apply) and says what to run then.
function M.show_changes(plan, what, opts)
  local changes, commands = plan:changes(), plan:commands()
  if #changes == 0 then
    print("# the host is already set up for " .. what)
    return
  end
  for _, c in ipairs(changes) do print(c.diff) end
  if opts.apply then
    for _, b in ipairs(assert(M.apply(plan))) do print("# backup: " .. b) end
    print("# written; now run: " .. table.concat(commands, " && "))
  else
    print("# to apply: --apply, then run: " .. table.concat(commands, " && "))
  end
end

-- What the persist recipe and emit --format host print: the diffs, or the files written.
function M.show(inv, records, opts)
  if type(records) == "userdata" then -- an assignment
    M.show_changes(assert(M.plan(inv, records, opts)), table.concat(records:addresses(), " "), opts)
    return
  end
  local addresses = {}
  for i, r in ipairs(records) do addresses[i] = r.address end
  M.show_changes(assert(M.plan(inv, addresses, opts)), table.concat(addresses, " "), opts)
end

-- Writes every change, or none: a failure puts back the files already written.
function M.apply(plan)
  return plan:apply()
end

return M
