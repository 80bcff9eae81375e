-- program.lua: the backend-neutral op program: named buffers with static shapes, checkpoint
-- weights with their shapes (the manifest), and an ordered list of ops in two phases
-- (`prologue`: once per generation; `step`: every sampler step), with PAB modules as groups of
-- ops that have a compute branch and a reuse branch. Class files (stdit3.lua, latte.lua) build it through
-- this API; plan.lua and emit.lua read it. Not here: any backend syntax.
local registry = require("registry")
local util = require("util")

local M = {}
M.__index = M

-- The storage elements a build can keep "st" buffers, caches and weights in: their size, and the
-- DITC_STORAGE macro and library symbol of a CUDA build (runtime/cuda/ops.h). The CPU backend is
-- fp32; CUDA builds default to the family's dtype.
M.STORAGE = {
  fp32 = { bytes = 4, macro = "DITC_STORAGE_F32", symbol = "ditc_cuda_storage_f32" },
  bf16 = { bytes = 2, macro = "DITC_STORAGE_BF16", symbol = "ditc_cuda_storage_bf16" },
  fp16 = { bytes = 2, macro = "DITC_STORAGE_F16", symbol = "ditc_cuda_storage_f16" },
}

-- The most bytes one buffer, the weights or the arena may take (1 TiB): sizes derived from a
-- hostile description are refused before they overflow an integer.
M.MAX_BYTES = 1 << 40

local function tib(n) return string.format("%.3g TiB", n / 2^40) end

-- Elements of a shape, refused (fail(message)) past max_bytes at `each` bytes an element; the
-- product is checked in floating point first, so it cannot wrap around.
function M.checked_elems(shape, each, what, fail)
  local f = 1.0
  for _, n in ipairs(shape) do f = f * n end
  if f * each > M.MAX_BYTES then
    fail(string.format("%s needs %s, more than the %s a buffer may hold (shape %s)", what, tib(f * each),
      tib(M.MAX_BYTES), util.shape_str(shape)))
  end
  return util.prod(shape)
end

-- storage: a key of M.STORAGE (default fp32); fail(message): raises the user error of a size
-- past MAX_BYTES (default: an internal error); phases: the program's phases in the order they
-- first run (default: a denoiser's `prologue`, once per generation, and `step`, once per model
-- call). Phases never run at the same time: a buffer one phase alone touches is transient there.
M.DENOISER_PHASES = { "prologue", "step" }
M.PHASE_DOC = { -- what each phase of a denoiser does, for the generated code's comments
  prologue = "Once per generation: position tables, fps embedding, caption path, cross-attention K/V.",
  step = "One sampler step; row is this step's PAB table row ([n_modules] cells).",
}

-- phase_doc: what each phase does, for the generated code's comments (default: a denoiser's).
function M.new(storage, fail, phases, phase_doc)
  storage = storage or "fp32"
  phases = phases or M.DENOISER_PHASES
  local ops = {}
  for _, ph in ipairs(phases) do ops[ph] = {} end
  return setmetatable({
    fail = fail or error,
    storage = storage, st_bytes = M.STORAGE[storage].bytes,
    buffers = {}, buffer_list = {}, weights = {}, weight_list = {}, skipped = {}, ignored = {},
    phases = phases, phase_doc = phase_doc or M.PHASE_DOC, ops = ops, modules = {}, phase = phases[1], group = nil,
    dims = {}, dim_doc = {}, -- name -> integer, name -> what it counts (use_dims)
    schedule = {}, -- lines plan.txt prints: a network's static call structure (a VAE's chunks and tiles)
    residual = nil, -- the residual stream's buffer, where the network has one (a DiT's "x" [B, N, C]):
                    -- the block layers add into it and a PAB module's dump shows it
  }, M)
end

-- Declares a buffer. kind: "act" (transient within a phase), "io" (persistent, written or read by
-- the runtime, with a role: "input" it writes, "output" it reads, "state" it keeps between calls;
-- the io table of the descriptor lists them), "device" (persistent, used by the device backend only: never on the host), or
-- inferred "persist" when a step reads what the prologue wrote. dtype: "st" (the
-- storage element: activations; the default), "f32" (io buffers, which the host reads and
-- writes, and the position/RoPE tables), "i32", or "u8" (an output's video frames).
function M:buffer(name, shape, opt)
  opt = opt or {}
  shape = M.values(shape)
  assert(not self.buffers[name], "program: buffer declared twice: " .. name)
  assert((opt.kind == "io") == (opt.role ~= nil), "program: io buffers (and only they) have a role: " .. name)
  local b = {
    name = name, shape = shape, kind = opt.kind or "act", role = opt.role, -- role: input | output | state
    batched = opt.batched, range = opt.range, -- io: the leading dim is a call's rows; an i32 input's { lo, hi }
    dtype = opt.dtype or (opt.kind == "io" and "f32" or "st"),
    dims = opt.dims or "", -- shape in the dimension vocabulary, for comments
  }
  local each = b.dtype == "st" and self.st_bytes or b.dtype == "u8" and 1 or 4
  b.elems = M.checked_elems(shape, each, "buffer " .. name, self.fail)
  b.bytes = b.elems * each
  self.buffers[name] = b
  self.buffer_list[#self.buffer_list + 1] = b
  return name
end

-- Registers a checkpoint tensor used by the model (name exactly as upstream) with its checkpoint
-- shape; view (optional): the shape the ops read it as, the same elements in the same order (a
-- convolution's [C, Cin, kt, kh, kw] as the GEMM operand [C, Cin*kt*kh*kw]). The manifest checks
-- files against the checkpoint shape; offsets.h shows both. opt.dtype: "st" (the default: the
-- build's storage element) or "f32" (kept in fp32 in any build, as transformers keeps T5's
-- `wo` in fp32 in fp16: `_keep_in_fp32_modules`); only op kinds that mark the argument w/f32
-- take an fp32 weight (registry.lua).
function M:weight(name, shape, view, opt)
  shape = M.values(shape)
  local dtype = opt and opt.dtype or "st"
  assert(dtype == "st" or dtype == "f32", "program: weight " .. name .. ": dtype must be st or f32, not " .. tostring(dtype))
  local w = self.weights[name]
  if w then
    assert(table.concat(w.shape, ",") == table.concat(shape, ","), "program: weight shape conflict: " .. name)
    assert(w.dtype == dtype, "program: weight dtype conflict: " .. name .. " is " .. w.dtype .. ", now " .. dtype)
    return name
  end
  local each = dtype == "f32" and 4 or self.st_bytes
  w = { name = name, shape = shape, dtype = dtype, elems = M.checked_elems(shape, each, "weight " .. name, self.fail) }
  -- the storage elements it takes in the weight buffer (offsets count those): an fp32 weight
  -- in 16-bit storage takes two per element
  w.st_elems = w.elems * (each // self.st_bytes)
  if view then
    w.view = M.values(view)
    assert(util.prod(w.view) == w.elems, "program: the view of " .. name .. " has another number of elements")
  end
  self.weights[name] = w
  self.weight_list[#self.weight_list + 1] = w
  return name
end

-- The dims of the variant an op's integer arguments may name: every integer entry of d (the
-- family's dims in the project vocabulary, runtime/README.md); doc: name -> what it counts. The emitted code defines each as
-- D_<name> (offsets.h) and writes an argument that is one of them, or an expression of them
-- (P:dim), by name.
function M:use_dims(d, doc)
  for k, v in pairs(doc or {}) do self.dim_doc[k] = v end
  for k, x in pairs(d) do
    if math.type(x) == "integer" then self.dims[k] = x end
  end
end

-- A dimension expression over the program's dims (names, integers, + - * // and parentheses,
-- e.g. "B * Nl" or "3 * C"): an op argument the emitter writes with the names (D_B * D_Nl), whose
-- value .n the program computes now. Expressions combine with + - * // and integers (the text
-- follows), and compare by value with each other.
local DIM = {}
DIM.__index = DIM
local function dim_of(expr, n) return setmetatable({ dim = expr, n = n }, DIM) end
local function operand(x, tight) -- the text of x as an operand; tight: wrap a sum
  local e = getmetatable(x) == DIM and x.dim or tostring(x)
  if tight and e:find("[%+%-]") then e = "(" .. e .. ")" end
  return e
end
local function num(x) return getmetatable(x) == DIM and x.n or x end
DIM.__add = function(a, b) return dim_of(operand(a) .. " + " .. operand(b), num(a) + num(b)) end
DIM.__sub = function(a, b) return dim_of(operand(a) .. " - " .. operand(b, true), num(a) - num(b)) end
DIM.__mul = function(a, b)
  if a == 0 or b == 0 then return 0 end -- a plain number (an offset of 0 rows)
  if a == 1 then return b elseif b == 1 then return a end
  return dim_of(operand(a, true) .. " * " .. operand(b, true), num(a) * num(b))
end
DIM.__idiv = function(a, b)
  local e = operand(b, true)
  if e:find("[%*/]") then e = "(" .. e .. ")" end
  return dim_of(operand(a, true) .. " // " .. e, num(a) // num(b))
end
DIM.__eq = function(a, b) return a.n == b.n end
DIM.__tostring = function(a) return a.dim end

function M:dim(expr)
  assert(not expr:find("[^%w%s%+%-%*/%(%)]"), "program: not a dim expression: " .. expr)
  local f = assert(load("return " .. expr, "=dim", "t", setmetatable({}, { __index = function(_, k)
    return self.dims[k] or error("program: no dim " .. k .. " in " .. expr, 2)
  end })))
  local n = f()
  assert(math.type(n) == "integer", "program: dim expression " .. expr .. " is not an integer")
  return dim_of(expr, n)
end
function M.is_dim(x) return getmetatable(x) == DIM end
-- The integer value of an argument or shape entry: a number, or a dim expression's value.
M.value = num
-- A shape with every entry an integer.
function M.values(shape)
  local out = {}
  for i, x in ipairs(shape) do out[i] = num(x) end
  return out
end

-- A tensor a checkpoint may hold besides the manifest, accepted by name and shape and not loaded:
-- a tied copy of weight `of` (why: for the generated comment).
function M:tied_weight(name, of, why)
  local w = assert(self.weights[of], "program: tied_weight of an unknown weight " .. of)
  self.skipped[#self.skipped + 1] = { name = name, shape = w.shape, elems = w.elems, why = why }
end

-- Tensors whose names start with `prefix` may sit in a checkpoint and are ignored unread (why:
-- for the generated comment): a VAE checkpoint's encoder side.
function M:ignore_prefix(prefix, why)
  self.ignored[#self.ignored + 1] = { prefix = prefix, why = why }
end

function M:set_phase(phase)
  assert(self.ops[phase], "program: no phase " .. tostring(phase))
  self.phase = phase
end

-- Appends an op: kind is one of registry.lua's, which declares its arguments; args maps their
-- names to values: { buf = name } a buffer, { w = name } a weight, numbers, or C expressions;
-- reads/writes list buffer names for liveness; dump names an intermediate after the op.
function M:op(kind, name, args, reads, writes, opt)
  opt = opt or {}
  registry.check(kind, name, args)
  local k = registry.get(kind)
  for _, a in ipairs(k.args) do -- the element each buffer and weight argument must have
    local x, want = args[a], k.elems[a]
    if type(x) == "table" and x.buf and want and self.buffers[x.buf] and self.buffers[x.buf].dtype ~= want then
      error(string.format("op %s (%s): argument %s wants an %s buffer, %s is %s", name, kind, a, want, x.buf,
        self.buffers[x.buf].dtype), 2)
    end
    local w = type(x) == "table" and x.w and self.weights[x.w]
    if w and w.dtype ~= (want or "st") then
      error(string.format("op %s (%s): argument %s wants a weight in %s, %s is %s", name, kind, a,
        want == "f32" and "fp32" or "storage", x.w, w.dtype == "f32" and "fp32" or "storage"), 2)
    end
  end
  for _, a in ipairs(k.args) do -- a plain integer in a dim's place is that dim, or an error
    local x = args[a]
    if k.types[a] == "dim" and math.type(x) == "integer" and self.dims[a] and x ~= self.dims[a] then
      error(string.format("op %s (%s): argument %s is %d, not the dim %s = %d: give it as P:dim(expression)", name, kind,
        a, x, a, self.dims[a]), 2)
    end
  end
  for _, b in ipairs(reads) do assert(self.buffers[b], "program: op " .. name .. " reads unknown buffer " .. b) end
  for _, b in ipairs(writes) do assert(self.buffers[b], "program: op " .. name .. " writes unknown buffer " .. b) end
  local op = {
    kind = kind, name = name, args = args, reads = reads, writes = writes, phase = self.phase,
    dump = opt.dump, dump_buf = opt.dump_buf, dump_shape = opt.dump_shape, flops = registry.flops(kind, args),
    shapes = opt.shapes, -- name -> the shape the op sees where it differs from the buffer's (work buffers)
  }
  if self.group then
    local list = self.group[self.group.branch]
    list[#list + 1] = op
    op.module = self.group.module
  else
    local list = self.ops[self.phase]
    list[#list + 1] = op
  end
  return op
end

-- A PAB module: build(branch) is called for "compute" then "reuse"; ops added inside land in
-- that branch. kind: spatial | temporal | cross | mlp.
function M:pab_module(name, kind, block_idx, block_kind, build)
  local m = { name = name, kind = kind, block_idx = block_idx, block_kind = block_kind, index = #self.modules + 1 }
  self.modules[#self.modules + 1] = m
  local g = { group = true, module = m, compute = {}, reuse = {}, phase = self.phase, name = name }
  self.group = g
  for _, branch in ipairs({ "compute", "reuse" }) do
    g.branch = branch
    build(branch)
  end
  self.group = nil
  local list = self.ops[self.phase]
  list[#list + 1] = g
  return m
end

-- Flattened op sequence of a phase (groups expanded compute-then-reuse), for liveness.
function M:linear_ops(phase)
  local out = {}
  for _, item in ipairs(self.ops[phase]) do
    if item.group then
      for _, op in ipairs(item.compute) do out[#out + 1] = op end
      for _, op in ipairs(item.reuse) do out[#out + 1] = op end
    else
      out[#out + 1] = item
    end
  end
  return out
end

-- Weights start at multiples of this many elements: 256 bytes in 16-bit storage (512 in fp32),
-- the alignment cuBLASLt's heuristics assume of an operand.
M.WEIGHT_ALIGN = 128

-- Weight offsets (elements of the storage type) in the backend's weight buffer, each aligned to
-- WEIGHT_ALIGN elements; an fp32 weight in 16-bit storage spans two storage elements an element
-- (st_elems).
function M:layout_weights()
  local off, a = 0, M.WEIGHT_ALIGN
  for _, w in ipairs(self.weight_list) do
    w.offset = off
    off = off + ((w.st_elems + a - 1) // a) * a
  end
  self.weight_elems = off
  if off * self.st_bytes > M.MAX_BYTES then
    self.fail(string.format("the weights need %s, more than the %s cap", tib(off * self.st_bytes), tib(M.MAX_BYTES)))
  end
end

return M
