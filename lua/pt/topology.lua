-- Graphviz pictures of the PCI tree (report.lua --dot, --svg).
local M = {}

-- Graphviz: the PCI tree from the root complexes down, a fill colour of its own for each IOMMU
-- group, shared groups outlined in red, host-critical devices drawn with a double border, and a
-- legend that says so.

-- A light colour for group i of n, no two alike: hues spread evenly around the circle, those
-- next to each other in group order apart by about half of it, in two lightnesses.
local function group_colour(i, n)
  local hue = ((i * (n // 2 + 1)) % n) / n
  local l = i % 2 == 0 and 0.82 or 0.70
  local s = 0.65
  local function channel(k)
    local t = (k + hue * 12) % 12
    local c = l - s * math.min(l, 1 - l) * math.max(-1, math.min(t - 3, 9 - t, 1))
    return math.floor(c * 255 + 0.5)
  end
  return string.format("#%02x%02x%02x", channel(0), channel(8), channel(4))
end

local LEGEND = {
  { "legend_group", "a fill colour: one IOMMU group (its number in the label)", "style=filled, fillcolor=\"#b3d9ff\"" },
  { "legend_shared", "red outline: a shared group (all of it goes to a VM)", "style=filled, fillcolor=white, color=red, penwidth=3" },
  { "legend_critical", "double border: host-critical (the guard refuses it)", "style=filled, fillcolor=white, peripheries=2" },
  { "legend_bridge", "rounded: a bridge (stays with the host)", "style=\"filled,rounded\", fillcolor=white" },
  { "legend_none", "white: in no IOMMU group", "style=filled, fillcolor=white" },
}

local function dot_quote(s)
  return '"' .. s:gsub('[\\"]', '\\%0'):gsub("\n", "\\n") .. '"'
end

function M.dot(devices, name_of)
  local out = { "digraph pci {", "  rankdir=LR;", "  node [shape=box, style=filled, fontname=Helvetica, fontsize=10];" }
  local roots, shared, groups, colour = {}, {}, {}, {}
  for _, d in ipairs(devices) do
    if d.verdict == "shared" then shared[d.iommu_group] = true end
    if d.iommu_group and not colour[d.iommu_group] then
      colour[d.iommu_group] = true
      groups[#groups + 1] = d.iommu_group
    end
  end
  table.sort(groups)
  for i, g in ipairs(groups) do colour[g] = group_colour(i - 1, #groups) end
  for _, d in ipairs(devices) do
    local attrs = {
      "label=" .. dot_quote(string.format("%s\n%s\n%s%s", d.address, d.class_name or "?", name_of(d),
        d.iommu_group and ("\ngroup " .. d.iommu_group) or "")),
      "fillcolor=" .. dot_quote(d.iommu_group and colour[d.iommu_group] or "white"),
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
  out[#out + 1] = "  subgraph cluster_legend {"
  out[#out + 1] = '    label="Legend"; fontname=Helvetica; fontsize=10;'
  for i, l in ipairs(LEGEND) do
    out[#out + 1] = string.format("    %s [label=%s, %s];", l[1], dot_quote(l[2]), l[3])
    if i > 1 then out[#out + 1] = string.format("    %s -> %s [style=invis];", LEGEND[i - 1][1], l[1]) end
  end
  out[#out + 1] = "  }"
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
