-- Graphviz pictures of the PCI tree (report.lua --dot, --svg).
local M = {}

-- Graphviz: the PCI tree from the root complexes down, one fill colour an IOMMU group, shared
-- groups outlined in red, host-critical devices drawn with a double border.
local PALETTE = { "#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69",
  "#fccde5", "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f" }

local function dot_quote(s)
  return '"' .. s:gsub('[\\"]', '\\%0'):gsub("\n", "\\n") .. '"'
end

function M.dot(devices, name_of)
  local out = { "digraph pci {", "  rankdir=LR;", "  node [shape=box, style=filled, fontname=Helvetica, fontsize=10];" }
  local roots, shared = {}, {}
  for _, d in ipairs(devices) do
    if d.verdict == "shared" then shared[d.iommu_group] = true end
  end
  for _, d in ipairs(devices) do
    local attrs = {
      "label=" .. dot_quote(string.format("%s\n%s\n%s%s", d.address, d.class_name or "?", name_of(d),
        d.iommu_group and ("\ngroup " .. d.iommu_group) or "")),
      "fillcolor=" .. dot_quote(d.iommu_group and PALETTE[d.iommu_group % #PALETTE + 1] or "white"),
    }
    if d.bridge then attrs[#attrs + 1] = "style=\"filled,rounded\"" end
    if d.iommu_group and shared[d.iommu_group] then
      attrs[#attrs + 1] = "color=red"; attrs[#attrs + 1] = "penwidth=3"
    end
    if d.critical then
      attrs[#attrs + 1] = "peripheries=2"
      attrs[#attrs + 1] = "tooltip=" .. dot_quote("host-critical: " .. d.critical)
    end
    out[#out + 1] = string.format("  %s [%s];", dot_quote(d.address), table.concat(attrs, ", "))
    local parent = d.parent
    if not parent then
      parent = "pci" .. d.address:match("^(%x+:%x%x)")
      if not roots[parent] then
        roots[parent] = true
        out[#out + 1] = string.format("  %s [shape=ellipse, style=solid, label=%s];", dot_quote(parent),
          dot_quote("root complex " .. parent))
      end
    end
    out[#out + 1] = string.format("  %s -> %s;", dot_quote(parent), dot_quote(d.address))
  end
  out[#out + 1] = "}"
  return table.concat(out, "\n")
end

-- The SVG that dot renders, as text (a recipe writes no files; the caller prints it). Without
-- graphviz the DOT text is all there is.
function M.svg(dot)
  if not os.execute("command -v dot >/dev/null 2>&1") then
    error("--svg needs dot (Debian package graphviz); --dot prints the graph without it", 0)
  end
  local file = os.tmpname()
  local pipe = assert(io.popen("dot -Tsvg -o '" .. file .. "'", "w"))
  pipe:write(dot, "\n")
  local ok, _, code = pipe:close()
  local f = io.open(file, "r")
  local svg = f and f:read("a")
  if f then f:close() end
  os.remove(file)
  if not ok or not svg then error(string.format("dot failed (exit %s)", tostring(code)), 0) end
  return svg
end

return M
