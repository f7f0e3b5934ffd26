#!/usr/bin/env ptlua
-- Is this host ready for passthrough, and is this device? Each check: pass, warn, fail or
-- info, the evidence (the file read, the value) and the fix. Exit 0 when nothing fails.
local pt = require "pt"
local json = require "pt.json"

local MARK = { pass = "PASS", warn = "WARN", fail = "FAIL", info = "INFO" }
local CHECK_KEYS = { "id", "status", "title", "evidence", "fix" }

return {
  name = "doctor",
  description = "checks that the host (and a device) are ready for passthrough, with evidence and fixes",
  args = {
    { name = "device", type = "pci-addr", help = "also check this device" },
    { name = "json", type = "bool", help = "print JSON instead of text" },
  },
  run = function(args)
    local inv, err = pt.scan()
    if not inv then error(err, 0) end
    local dev
    if args.device then
      dev, err = inv:device(args.device)
      if not dev then error(err, 0) end
    end
    local report = assert(inv:doctor(dev))
    if args.json then
      local checks = json.array()
      for i, c in ipairs(report.checks) do
        c.fix = c.fix or json.null
        checks[i] = json.object(CHECK_KEYS, c)
      end
      print(json.encode(json.object({ "root", "device", "checks", "failures" }, {
        root = pt.root(), device = args.device or json.null, checks = checks,
        failures = report.failures,
      }), "  ", 2))
    else
      for _, c in ipairs(report.checks) do
        print(string.format("[%s] %s: %s", MARK[c.status], c.id, c.title))
        print("       evidence: " .. c.evidence)
        if c.fix then print("       fix: " .. c.fix) end
      end
      print(string.format("\n%d checks, %d failed", #report.checks, report.failures))
    end
    return report.failures > 0 and 1 or 0
  end,
}
