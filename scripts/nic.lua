#!/usr/bin/env ptlua
-- A NIC, or an SR-IOV virtual function of one, for a router VM (pfSense, OPNsense). The NIC of
-- the host's default route is refused (the guard); --vfs creates virtual functions first
-- (--vf-driver gives them a driver before their own probes them; --persist at every boot).
local passthrough = require "pt.passthrough"

return {
  name = "nic",
  description = "pass a NIC or an SR-IOV virtual function to a VM; can create VFs",
  args = passthrough.args {
    { name = "device", type = "pci-addr", required = true, help = "the NIC (or VF)" },
    { name = "vfs", type = "integer", help = "create this many virtual functions on the NIC, then stop" },
    { name = "wait-ms", type = "integer", default = 60000,
      help = "with --vfs: how long to wait for the VFs to appear (some NICs take tens of seconds)" },
    { name = "persist", type = "bool",
      help = "with --vfs: create them at every boot, before the VMs start (shows the plan; --apply writes it)" },
    { name = "apply", type = "bool", help = "with --persist: write the plan" },
    { name = "vf-driver", type = "string",
      help = "with --vfs: give the new VFs this driver (vfio-pci) before their own driver probes them" },
    { name = "vf", type = "bool", help = "pass the first free virtual function of the NIC instead" },
  },
  run = function(args)
    local inv, dev = passthrough.device(args.device, "network controller", { "network" })
    if args.vfs then
      if args.persist then
        local persist = require "pt.persist"
        local plan = assert(persist.sriov_plan(dev, args.vfs, args["wait-ms"], args["vf-driver"]))
        persist.show_changes(plan, string.format("%d VFs on %s", args.vfs, dev.address),
          { apply = args.apply and not args["dry-run"] })
        return
      end
      local d = args["vf-driver"]
      if args["dry-run"] then
        local numvfs = string.format("%s: write '0' then '%d' to /sys/bus/pci/devices/%s/sriov_numvfs", dev.address,
          args.vfs, dev.address)
        if not d then print(numvfs) return end
        print(string.format("%s: write '0' to /sys/bus/pci/devices/%s/sriov_drivers_autoprobe", dev.address, dev.address))
        print(numvfs)
        print(string.format("each new VF: write '%s' to its driver_override, its address to /sys/bus/pci/drivers_probe", d))
        print(string.format("%s: sriov_drivers_autoprobe back as it was", dev.address))
        return
      end
      local took, err = dev:create_vfs(args.vfs, { driver = d, wait_ms = args["wait-ms"] })
      if not took then error(err, 0) end
      print(string.format("%s: %d virtual functions (there after %d ms)%s", dev.address, args.vfs, took,
        d and ", each on " .. d or ""))
      return
    end
    if args.vf then
      local vf
      for _, v in ipairs(dev.virtfns) do
        if not vf and v.driver ~= "vfio-pci" then vf = v end
      end
      if not vf then error(string.format("%s: no free virtual function (create some with --vfs N)", dev.address), 0) end
      dev = vf
    end
    if args.emit then return passthrough.emit(inv, { dev }, args) end
    passthrough.bind({ dev }, args)
  end,
}
