-- tests/registry_test.lua: the op registry (gen/core/registry.lua) against the C prototypes. Every call
-- a backend makes for an op kind names a function declared in runtime/cpu/ops.h,
-- runtime/cuda/ops.h or runtime/denoiser/comm.h, with the same number of parameters, and each argument the
-- registry passes by name stands where the prototype has a parameter of that name (literal C text
-- such as CTX or NULL only fills a position). A planted mismatch must be caught. Prints ok / not
-- ok lines. Run from the repository root: lua5.4 tests/registry_test.lua.
dofile("gen/paths.lua")("")
require("strict")
local registry = require("registry")

local tap = dofile("tests/tap.lua")
local check = tap.check

-- name -> list of parameter names, from every `void name(...);` prototype of the headers
local protos = {}
for _, path in ipairs({ "runtime/cpu/ops.h", "runtime/cuda/ops.h", "runtime/denoiser/comm.h" }) do
  local text = assert(io.open(path)):read("a"):gsub("/%*.-%*/", " ")
  for name, params in text:gmatch("void%s+([%w_]+)%s*(%b())%s*;") do
    local list = {}
    for p in params:sub(2, -2):gmatch("[^,]+") do list[#list + 1] = p:match("([%w_]+)%s*$") end
    protos[name] = list
  end
end

-- problems of one backend call of kind k against the prototypes, or nil
local function mismatch(k, call, protos_)
  local fn, rest = call:match("^(%S+)%s*(.*)$")
  local params = protos_[fn]
  if not params then return fn .. " has no prototype" end
  local toks = {}
  for t in rest:gmatch("%S+") do toks[#toks + 1] = t end
  if #toks ~= #params then return string.format("%s takes %d parameters, the registry passes %d", fn, #params, #toks) end
  for i, t in ipairs(toks) do
    if k.types[t] and t ~= params[i] then
      return string.format("%s: parameter %d is %s, the registry passes %s there", fn, i, params[i], t)
    end
  end
  return nil
end

local calls, bad = 0, {}
for _, name in ipairs(registry.order) do
  local k = registry.kinds[name]
  for _, backend in ipairs({ "cpu", "cuda" }) do
    for _, call in ipairs(k.calls[backend] or {}) do
      calls = calls + 1
      local m = mismatch(k, call, protos)
      if m then bad[#bad + 1] = name .. " (" .. backend .. "): " .. m end
    end
  end
end
check(#bad == 0, string.format("%d calls of %d op kinds match the C prototypes by name and position", calls,
  #registry.order), table.concat(bad, "; "))

-- the kinds of the fp16 T5 (fp32 tensors in a 16-bit build): a call on each backend, their fp32
-- arguments marked (the program checks the buffers and weights it passes against the marks)
local marks, missing = {}, nil
for _, name in ipairs({ "linear_f32", "rms_norm_from_f32", "add_f32", "add_f32_st", "clamp_fp16", "to_f32" }) do
  local k = registry.kinds[name]
  if not (k and k.calls.cpu and k.calls.cuda) then missing = missing or name end
  for _, a in ipairs(k and k.args or {}) do
    if k.elems[a] then marks[#marks + 1] = name .. "." .. a .. "/" .. k.elems[a] end
  end
end
check(missing == nil and table.concat(marks, " ") == "linear_f32.out/f32 linear_f32.src/f32 linear_f32.w/f32 "
  .. "rms_norm_from_f32.out/st rms_norm_from_f32.src/f32 add_f32.out/f32 add_f32.a/f32 add_f32.b/f32 add_f32_st.out/f32 "
  .. "add_f32_st.a/f32 add_f32_st.b/st clamp_fp16.x/st to_f32.out/f32",
  "the fp16 T5's op kinds have a CPU and a CUDA call and mark each fp32 and storage argument",
  missing or table.concat(marks, " "))

-- the check must fail on a planted mismatch: cpu_linear's M and K swapped, and a missing function
local k = registry.kinds.linear
check(mismatch(k, "cpu_linear out src w b K M N act", protos) ~= nil and
  mismatch(k, "cpu_linear_nope out src w b M K N act", protos) ~= nil and
  mismatch(k, "cpu_linear out src w b M K N", protos) ~= nil,
  "a swapped, a missing and a short call are caught")

-- every argument an op passes is declared, with a value of its type
local ok1 = pcall(registry.check, "linear", "t", { out = { buf = "a" }, src = { buf = "b" }, w = { w = "w" }, b = "NULL",
  M = 2, K = 3, N = 4, act = "DITC_ACT_NONE" })
local ok2 = pcall(registry.check, "linear", "t", { out = { buf = "a" }, src = { buf = "b" }, w = { w = "w" }, b = "NULL",
  M = 2, K = 3, N = 4 })
local ok3 = pcall(registry.check, "linear", "t", { out = { buf = "a" }, src = { buf = "b" }, w = { w = "w" }, b = "NULL",
  M = 2, K = 3, N = 4, act = 0, extra = 1 })
local ok4 = pcall(registry.check, "linear", "t", { out = { w = "a" }, src = { buf = "b" }, w = { w = "w" }, b = "NULL",
  M = 2, K = 3, N = 4, act = 0 })
check(ok1 and not ok2 and not ok3 and not ok4, "an op's arguments are checked: missing, undeclared and mistyped ones fail")

-- the FLOP rules: a GEMM counts 2 per multiply-add, attention 4 (QK^T and PV), elementwise nothing
check(registry.flops("linear", { M = 2, K = 3, N = 4 }) == 48
  and registry.flops("attention", { nseq = 2, inner = 1, len = 5, H = 3, D = 4 }) == 4 * 10 * 5 * 12
  and registry.flops("cross_attention", { B = 2, N = 5, L = 7, H = 3, D = 4 }) == 4 * 2 * 5 * 7 * 12
  and registry.flops("silu", { n = 100 }) == 0, "FLOP rules: GEMM 2MKN, attention 4 x queries x keys x C, elementwise 0")

tap.finish("registry_test")
