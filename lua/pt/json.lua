-- JSON output with a stable key order, so reports can be compared and diffed.
-- json.null stands for null; json.array{} marks a list (an empty table is otherwise an
-- object); json.object(keys, t) fixes the order of t's keys (others are sorted).
local json = {}

json.null = setmetatable({}, { __tostring = function() return "null" end })
local array_mt = { __name = "json.array" }

function json.array(t)
  return setmetatable(t or {}, array_mt)
end

function json.object(keys, t)
  return setmetatable(t, { __jsonkeys = keys })
end

local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
                  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }

local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function is_array(t)
  if getmetatable(t) == array_mt then return true end
  local n, count = #t, 0
  for _ in pairs(t) do count = count + 1 end
  return n > 0 and count == n
end

local function keys_of(t)
  local mt = getmetatable(t)
  local order, seen, keys = mt and mt.__jsonkeys or {}, {}, {}
  for _, k in ipairs(order) do
    if t[k] ~= nil then keys[#keys + 1] = k; seen[k] = true end
  end
  local rest = {}
  for k in pairs(t) do
    if type(k) ~= "string" then error("json: object key " .. tostring(k) .. " is not a string", 0) end
    if not seen[k] then rest[#rest + 1] = k end
  end
  table.sort(rest)
  table.move(rest, 1, #rest, #keys + 1, keys)
  return keys
end

local function encode(v, indent, depth, out)
  local kind = type(v)
  if v == json.null or v == nil then
    out[#out + 1] = "null"
  elseif kind == "boolean" then
    out[#out + 1] = tostring(v)
  elseif kind == "number" then
    if v ~= v or v == math.huge or v == -math.huge then error("json: cannot encode " .. tostring(v), 0) end
    out[#out + 1] = math.type(v) == "integer" and string.format("%d", v) or string.format("%.17g", v)
  elseif kind == "string" then
    out[#out + 1] = quote(v)
  elseif kind == "table" then
    local nl = indent and ("\n" .. string.rep(indent, depth + 1)) or ""
    local close = indent and ("\n" .. string.rep(indent, depth)) or ""
    local sep = indent and ": " or ":"
    if is_array(v) then
      if #v == 0 then out[#out + 1] = "[]"; return end
      out[#out + 1] = "["
      for i = 1, #v do
        out[#out + 1] = (i > 1 and "," or "") .. nl
        encode(v[i], indent, depth + 1, out)
      end
      out[#out + 1] = close .. "]"
    else
      local keys = keys_of(v)
      if #keys == 0 then out[#out + 1] = "{}"; return end
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        out[#out + 1] = (i > 1 and "," or "") .. nl .. quote(k) .. sep
        encode(v[k], indent, depth + 1, out)
      end
      out[#out + 1] = close .. "}"
    end
  else
    error("json: cannot encode a " .. kind, 0)
  end
end

-- json.encode(value [, indent]): indent is a string such as "  " for pretty output.
function json.encode(v, indent)
  local out = {}
  encode(v, indent, 0, out)
  return table.concat(out)
end

return json
