#!/usr/bin/env ptlua
-- Checks Proxmox VM configs against this host: pcie=1 without q35, x-vga with SeaBIOS, absent
-- devices, group members the VM lacks, a device in two VMs, unknown mappings, ambiguous USB ids.
local pt = require "pt"
local json = require "pt.json"
local proxmox = require "pt.proxmox"

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
      local found = cluster.lint(inv, args.node or cluster.node_name())
      if args.json then
        local list = json.array()
        for i, f in ipairs(found) do list[i] = json.object({ "mapping", "node", "message" }, f) end
        print(json.encode(list, "  ", 1))
      else
        for _, f in ipairs(found) do print(string.format("mapping %s, node %s: %s", f.mapping, f.node, f.message)) end
        print(string.format("%d findings", #found))
      end
      return #found > 0 and 1 or 0
    end
    local findings = proxmox.lint(inv, pt.root(), args.vm)
    if args.json then
      local list = json.array()
      for i, f in ipairs(findings) do list[i] = json.object({ "vm", "key", "message" }, f) end
      print(json.encode(list, "  ", 1))
    else
      for _, f in ipairs(findings) do print(string.format("%d %s: %s", f.vm, f.key, f.message)) end
      print(string.format("%d findings", #findings))
    end
    return #findings > 0 and 1 or 0
  end,
}
