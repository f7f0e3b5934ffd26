-- Compiles a bundled module to bytecode for make: `ptlua --trusted lua/luac.lua SRC OUT NAME`.
-- Compiling recipe.lua at every start was two thirds of ptlua's start-up (2.3 M of 3.3 M
-- instructions, callgrind); loading the bytecode costs a few thousand. The chunk is named
-- NAME, the path the source is read from, so errors and tracebacks keep their file and line.
local src, out, name = ...
local f = assert(io.open(src, "rb"))
local text = f:read("a")
f:close()
local chunk = assert(load(text, "@" .. name, "t"))
f = assert(io.open(out .. ".tmp", "wb"))
f:write(string.dump(chunk))
f:close()
assert(os.rename(out .. ".tmp", out))
