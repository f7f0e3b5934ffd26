#!/usr/bin/env ptlua
-- A device's option ROM (a GPU's vBIOS), read through sysfs, or a ROM file a user brings to
-- /usr/share/kvm: its images checked (the 55 AA signature, the PCIR ids against the device,
-- each image's code type, length and checksum), a flashing tool's header found, and the image
-- saved where Proxmox looks for `romfile=NAME`.
local pt = require "pt"
local json = require "pt.json"

local KVM = "/usr/share/kvm/"
local MACHINES = { ["8664"] = "x64", ["014c"] = "IA-32", aa64 = "AArch64", ["0ebc"] = "EBC" }

local function kib(n)
  return n % 1024 == 0 and string.format("%d KiB", n // 1024) or string.format("%.1f KiB", n / 1024)
end

-- What is wrong or worth knowing, as {level, text}: "error" makes the ROM unusable as it is.
local function findings(info, dev)
  local out, efi, x86 = {}, false, false
  local function add(level, text) out[#out + 1] = { level = level, text = text } end
  if info.problem then add("error", info.problem) end
  if info.start > 0 then
    add("note", string.format("%d bytes before the first image (a flashing tool's header): " ..
      "--save writes the image without them", info.start))
  end
  for i, img in ipairs(info.images) do
    if img.code_type == 3 then efi = true elseif img.code_type == 0 then x86 = true end
    if dev and img.matches == false then
      add("error", string.format("image %d is for %s:%s, not for %s (%04x:%04x)", i, img.vendor_id,
        img.device_id, dev.address, dev.vendor_id, dev.device_id))
    end
    if img.checksum_ok == false then
      add("error", string.format("image %d: its bytes do not sum to 0 (a damaged or patched image)", i))
    end
  end
  if not efi then
    add("warning", "no EFI image: under OVMF the screen stays dark until the guest's driver loads " ..
      "(SeaBIOS runs the x86 image; or bring a ROM with an EFI image)")
  end
  if not x86 then add("note", "no x86 image: SeaBIOS shows nothing from this device") end
  return out
end

local function describe(info)
  local lines = {}
  for i, img in ipairs(info.images) do
    local code = img.code
    if img.efi_machine then code = code .. " (" .. (MACHINES[img.efi_machine] or img.efi_machine) .. ")" end
    local extra = {}
    if img.checksum_ok ~= nil then extra[#extra + 1] = img.checksum_ok and "checksum ok" or "checksum WRONG" end
    if img.last then extra[#extra + 1] = "last" end
    lines[#lines + 1] = string.format("  image %d at 0x%x: %s, %s, %s:%s%s", i, img.offset, code,
      kib(img.length), img.vendor_id, img.device_id, #extra > 0 and ", " .. table.concat(extra, ", ") or "")
  end
  return table.concat(lines, "\n")
end

return {
  name = "rom",
  description = "read and check a device's option ROM (vBIOS) or a ROM file, and save it for romfile=",
  args = {
    { name = "device", type = "pci-addr", help = "the device whose ROM is read (or a --file is checked against)" },
    { name = "file", type = "string", help = "a ROM file in /usr/share/kvm to check instead of reading the device" },
    { name = "save", type = "string", help = "write the ROM's images to /usr/share/kvm/NAME (for romfile=NAME)" },
    { name = "dry-run", type = "bool", help = "print every write it would make, read and write nothing" },
    { name = "json", type = "bool", help = "print JSON" },
  },
  run = function(args)
    if not args.device and not args.file then error("--device or --file is needed", 0) end
    for _, opt in ipairs({ "file", "save" }) do
      if args[opt] and not pt.romfile_name_valid(args[opt]) then
        error(string.format("--%s %q: a file name in %s (letters, digits, '-', '_', '.', '+')", opt,
          args[opt], KVM), 0)
      end
    end
    local dev, err
    if args.device then
      local inv
      inv, err = pt.scan({ devices = { args.device } })
      if not inv then error(err, 0) end
      dev, err = inv:device(args.device)
      if not dev then error(err, 0) end
    end
    local rom_attr = dev and "/sys/bus/pci/devices/" .. dev.address .. "/rom"
    if args["dry-run"] then
      if not args.file then
        print(string.format("write '1' to %s; read it; write '0' to %s", rom_attr, rom_attr))
      end
      if args.save then print("write the ROM's images to " .. KVM .. args.save) end
      return 0
    end
    local data, source
    if args.file then
      data, err = pt.read_romfile(args.file)
      source = KVM .. args.file
    else
      data, err = dev:read_rom()
      source = rom_attr
    end
    if not data then error(err, 0) end
    local info
    if dev then
      info, err = pt.rom_parse(data, dev.vendor_id, dev.device_id)
    else
      info, err = pt.rom_parse(data)
    end
    if not info then error(source .. ": " .. err, 0) end
    local found = findings(info, dev)
    local ok = true
    for _, f in ipairs(found) do if f.level == "error" then ok = false end end
    local saved
    if args.save and ok then
      local image = data:sub(info.start + 1, info["end"])
      local done, backup = pt.write_romfile(args.save, image)
      if not done then error(backup, 0) end
      saved = { path = KVM .. args.save, bytes = #image, backup = backup or json.null }
    end
    if args.json then
      local images = json.array()
      for i, img in ipairs(info.images) do
        img.device_list = json.array(img.device_list)
        images[i] = img
      end
      print(json.encode(json.object({ "device", "source", "size", "start", "end", "problem", "images",
        "findings", "ok", "saved", "romfile" }, {
        device = dev and dev.address or json.null, source = source, size = #data, start = info.start,
        ["end"] = info["end"], problem = info.problem or json.null, images = images,
        findings = json.array(found), ok = ok, saved = saved or json.null,
        romfile = saved and args.save or json.null,
      }), "  "))
      return ok and 0 or 1
    end
    print(string.format("%s: %s, %d image%s", source, kib(#data), #info.images, #info.images == 1 and "" or "s"))
    print(describe(info))
    for _, f in ipairs(found) do print(f.level .. ": " .. f.text) end
    if saved then
      print(string.format("saved %s to %s%s", kib(saved.bytes), saved.path,
        saved.backup ~= json.null and " (the old one kept as " .. saved.backup .. ")" or ""))
      print(string.format("use it: hostpciN: %s,romfile=%s", dev and dev.address or "ADDRESS", args.save))
    elseif args.save then
      print("not saved: the ROM has errors")
    end
    return ok and 0 or 1
  end,
}
