-- Compiles a bundled module to bytecode for make: `ptlua --trusted lua/luac.lua SRC OUT NAME
-- [strip]`. Compiling recipe.lua at every start was two thirds of ptlua's start-up (2.3 M of
-- 3.3 M instructions, callgrind). The chunk is named NAME, the path the source is read from, so
-- errors and tracebacks keep their file and line; `strip` drops the debug information (for
-- recipe.lua, loaded at every start, whose errors all name their own place: 1.18 M -> 1.04 M
-- instructions for print(1); a traceback through it shows "?" for its lines).
local src, out, name, strip = ...
local f = assert(io.open(src, "rb"))
local text = f:read("a")
f:close()
local chunk = assert(load(text, "@" .. name, "t"))
f = assert(io.open(out .. ".tmp", "wb"))
f:write(string.dump(chunk, strip == "strip"))
f:close()
assert(os.rename(out .. ".tmp", out))
