#!/usr/bin/env ptlua
-- Checks Proxmox VM configs against this host: pcie=1 without q35, x-vga with SeaBIOS, absent
-- devices, group members the VM lacks, a device in two VMs, unknown mappings, ambiguous USB ids,
-- romfile= and legacy-igd=1 lines; with --cluster, the cluster's mappings against every node's
-- published report.
local pt = require "pt"
local json = require "pt.json"
local proxmox = require "pt.proxmox"

-- The findings as JSON objects of those keys, or a line each and a count; exit 1 with any.
local function show(findings, keys, line, as_json)
  if as_json then
    local list = json.array()
    for i, f in ipairs(findings) do list[i] = json.object(keys, f) end
    print(json.encode(list, "  ", 1))
  else
    for _, f in ipairs(findings) do print(line(f)) end
    print(string.format("%d findings", #findings))
  end
  return #findings > 0 and 1 or 0
end

return {
  name = "lint",
  description = "lint the Proxmox VM configs in /etc/pve/qemu-server against this host",
  args = {
    { name = "vm", type = "vmid", help = "only this VM (default: all)" },
    { name = "json", type = "bool", help = "print JSON" },
    { name = "cluster", type = "bool",
      help = "check the cluster's PCI mappings against every node's published report instead" },
    { name = "node", type = "string", help = "this node's name (--cluster; default: the host name)" },
  },
  run = function(args)
    local inv, err = pt.scan()
    if not inv then error(err, 0) end
    if args.cluster then
      local cluster = require "pt.cluster"
      return show(cluster.lint(inv, args.node or cluster.node_name()), { "mapping", "node", "message" },
        function(f) return string.format("mapping %s, node %s: %s", f.mapping, f.node, f.message) end, args.json)
    end
    return show(assert(proxmox.lint(inv, args.vm)), { "vm", "key", "code", "message" },
      function(f) return string.format("%d %s: %s", f.vm, f.key, f.message) end, args.json)
  end,
}
