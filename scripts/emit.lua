#!/usr/bin/env ptlua
-- The configuration lines passthrough needs, written from the analysis: Proxmox (config lines,
-- qm set, cluster mappings), libvirt XML, QEMU arguments, and the host's boot-time setup.
local pt = require "pt"
local proxmox = require "pt.proxmox"
local persist = require "pt.persist"
local passthrough = require "pt.passthrough"


return {
  name = "emit",
  description = "print the Proxmox, libvirt, QEMU or host configuration for a device (or USB device)",
  args = {
    { name = "format", type = "enum", required = true,
      values = { "proxmox", "qm", "mapping", "libvirt", "libvirt-domain", "qemu", "host" },
      help = "what to write" },
    { name = "device", type = "pci-addr", help = "the PCI device, or a slot (01:00: every function); its whole passthrough set goes" },
    { name = "usb", type = "usb-id", help = "a USB device by vendor:product" },
    { name = "usb-port", type = "usb-port", metavar = "BUS-PORT", help = "a USB device by physical port (1-2.3)" },
    { name = "vm", type = "vmid", help = "the VM (proxmox, qm: read for free slots and settings)" },
    { name = "primary", type = "bool", help = "the GPU is the VM's primary display (x-vga, vga none)" },
    { name = "no-rombar", type = "bool", help = "do not expose the option ROM" },
    { name = "legacy-igd", type = "bool", help = "Intel's integrated GPU at 00:02.0 as the only display (proxmox, qm)" },
    { name = "romfile", type = "string", help = "a vBIOS file (Proxmox: in /usr/share/kvm)" },
    { name = "hide-kvm", type = "bool", help = "cpu host,hidden=1 (NVIDIA drivers before 465)" },
    { name = "storage", type = "string", default = "local-lvm", help = "storage for a new efidisk" },
    { name = "mapping", type = "string", help = "mapping name (format mapping)" },
    { name = "nodes", type = "string", metavar = "NODE=REPORT,...",
      help = "other nodes' JSON reports (format mapping)" },
    { name = "node", type = "string", help = "this node's name (format mapping; default: the host name)" },
    { name = "cluster", type = "bool",
      help = "the other nodes from their published reports in /etc/pve/nodes (format mapping)" },
    { name = "blacklist", type = "bool", help = "also blacklist the host drivers (format host)" },
    { name = "apply", type = "bool", help = "write the host files (format host), keeping backups" },
    { name = "force", type = "bool", help = "a device the host needs too (see the refusal); said on stderr" },
    { name = "place", type = "bool",
      help = "the VM's vCPUs, memory (and huge pages) on its devices' NUMA node (proxmox, qm, libvirt-domain, qemu)" },
    { name = "iommufd", type = "enum", values = { "auto", "yes", "no" }, default = "auto",
      help = "qemu: devices through IOMMUFD (auto: where the kernel and QEMU have it), else their VFIO group" },
    { name = "qemu", type = "string", metavar = "PATH", help = "the QEMU asked for iommufd (default: the system's)" },
    { name = "hugepages", type = "enum", values = { "2", "1024" }, help = "with --place: the memory on huge pages of 2 or 1024 MiB" },
    { name = "vcpus", type = "integer", help = "with --place: the vCPUs (default: the VM's cores x sockets)" },
    { name = "memory", type = "integer", metavar = "MiB", help = "with --place: the memory (default: the VM's)" },
  },
  run = function(args)
    local usb = args.usb and { id = args.usb } or args["usb-port"] and { port = args["usb-port"] } or nil
    if usb and usb.id then
      -- an id two present devices share cannot say which: the port form can
      assert(pt.usb.resolve(usb, assert(pt.scan()):usb()))
    elseif usb then
      -- a physical port is one port: its other half, where the kernel links them, is emitted too
      for _, d in ipairs(assert(pt.scan()):usb()) do
        if d.port == usb.port then usb.peer_port = d.peer_port elseif d.peer_port == usb.port then usb.peer_port = d.port end
      end
    end
    local f = args.format
    local inv, a, set = nil, nil, {}
    if args.device then
      -- one assignment: the device (or every function of a slot) with its passthrough set,
      -- guarded as a bind is
      inv = passthrough.scan()
      a = passthrough.assign(inv, { args.device }, { vm = args.vm, force = args.force })
      set = a:addresses()
    elseif not usb then
      error("give --device, --usb or --usb-port", 0)
    end
    local place = a and passthrough.place(a, args)
    if args.place and not a then error("--place needs --device", 0) end
    -- the primary display: the device named, or a slot's first function
    local primary = args.primary and a and (args.device:match("%.%x$") and args.device or a:addresses()[1]) or nil
    if f == "proxmox" or f == "qm" then
      if not args.vm then error("--vm is required for --format " .. f, 0) end
      local out, seen = { lines = {}, qm = {}, notes = {} }, {}
      local function add(r)
        table.move(r.lines, 1, #r.lines, #out.lines + 1, out.lines)
        out.qm[#out.qm + 1] = r.qm
        for _, n in ipairs(r.notes) do
          if not seen[n] then seen[n] = true; out.notes[#out.notes + 1] = n end -- said once
        end
      end
      if a then
        add(assert(proxmox.emit(a, { vm = args.vm, primary = primary, rombar = not args["no-rombar"],
          romfile = args.romfile, hide_kvm = args["hide-kvm"], storage = args.storage,
          legacy_igd = args["legacy-igd"], place = place })))
      end
      if usb then
        add(assert(proxmox.emit_usb { vm = args.vm, id = usb.id, port = usb.port, peer_port = usb.peer_port }))
      end
      print(table.concat(f == "qm" and out.qm or out.lines, "\n"))
      if f == "proxmox" then
        for _, n in ipairs(out.notes) do print("# " .. n) end
      end
    elseif f == "mapping" and usb and not a then
      if not args.mapping then error("--format mapping needs --mapping", 0) end
      local nodes = { args.node or "localhost" }
      for item in (args.nodes or ""):gmatch("[^,]+") do nodes[#nodes + 1] = item:match("^([^=]+)") end
      local r = assert(proxmox.emit_usb_mapping(args.mapping, usb, nodes))
      print("# /etc/pve/mapping/usb.cfg")
      print(table.concat(r.lines, "\n"))
      for _, n in ipairs(r.notes) do print("# " .. n) end
    elseif f == "mapping" then
      if not a or not args.mapping then error("--format mapping needs --device and --mapping", 0) end
      local cluster = require "pt.cluster"
      local this = args.node or (args.cluster and cluster.node_name()) or "localhost"
      local nodes = { { name = this, inventory = inv } }
      if args.cluster then
        for _, r in ipairs((cluster.others(this))) do nodes[#nodes + 1] = r end
      end
      for item in (args.nodes or ""):gmatch("[^,]+") do
        local name, file = item:match("^([^=]+)=(.+)$")
        if not name then error("--nodes " .. item .. ": expected NODE=REPORT", 0) end
        nodes[#nodes + 1] = { name = name, report = file }
      end
      proxmox.print_mapping(assert(proxmox.emit_mapping(args.mapping, a, nodes)))
    elseif f == "libvirt" then
      print((assert(pt.emit_libvirt(a or {}, usb))))
    elseif f == "libvirt-domain" then
      local xml, notes = assert(pt.emit_libvirt(a or {}, usb, args.vm and ("vm" .. args.vm) or "passthrough",
        { place = place }))
      print(xml)
      passthrough.say_notes(notes)
    elseif f == "qemu" then
      local iommufd, why = false, "--iommufd no"
      if a and args.iommufd ~= "no" then
        iommufd, why = pt.iommufd(args.qemu)
        if args.iommufd == "yes" and not iommufd then error("--iommufd yes: " .. why, 0) end
      end
      local words, notes = assert(pt.emit_qemu(a or {}, usb, { primary = primary, rombar = not args["no-rombar"],
        romfile = args.romfile, place = place, iommufd = iommufd }))
      print(pt.shell_quote(words))
      if a then passthrough.say(string.format("%s: %s", iommufd and "IOMMUFD" or "the VFIO group", why)) end
      passthrough.say_notes(notes)
    elseif f == "host" then
      if not a then error("--format host needs --device", 0) end
      persist.show(inv, a, { blacklist = args.blacklist, apply = args.apply })
      if place and place.hugepages then -- the VM's huge pages on its node, at every boot
        persist.show_changes(assert(pt.hugepages_plan(place)), string.format("%d pages of %d KiB on NUMA node %d",
          place.hugepages.needed, place.hugepages.size_kib, place.node), { apply = args.apply })
      end
    end
  end,
}
