#!/usr/bin/env ptlua
-- Gives back every device the journal under /run/libpt says a VM holds, to the driver (and
-- driver_override) it had before, whichever process took it, finished or not; then what else
-- it holds (an mdev, a VF's vGPU type, the host's console), newest first.
local pt = require "pt"

return {
  name = "restore",
  description = "give a VM's devices back to their original drivers",
  args = {
    { name = "vm", type = "vmid", required = true, help = "the VM whose devices to give back" },
    { name = "dry-run", type = "bool", help = "print every write it would make, write nothing" },
    { name = "timeout-ms", type = "integer", default = 5000, help = "how long a driver may take to bind" },
    { name = "lock-timeout-ms", type = "integer", default = 60000,
      help = "how long to wait for another VM's transaction to finish" },
  },
  run = function(args)
    local result, err = pt.restore { vm = args.vm, dry_run = args["dry-run"], timeout_ms = args["timeout-ms"],
                               lock_timeout_ms = args["lock-timeout-ms"] }
    if not result then error(err, 0) end
    local holds = err or 0 -- after a commit: how many holds (mdevs, vGPU types, the console) went back
    if args["dry-run"] then
      for _, step in ipairs(result) do print(step) end
    elseif #result == 0 and holds == 0 then
      print(string.format("vm %d holds no device", args.vm))
    else
      print(string.format("vm %d gave back %s%s", args.vm, table.concat(result, " "),
        holds > 0 and string.format("%s%d hold%s (mdevs, vGPU types, the console)", #result > 0 and " and " or "",
          holds, holds == 1 and "" or "s") or ""))
    end
  end,
}
