-- registry.lua: every op kind of the op program, declared once: its arguments in order, each
-- with a name and a type, and the call each backend makes (by default `cpu_<kind>(args)` and
-- `cuda_<kind>(CTX, args)`, the C functions of runtime/cpu/ops.h and runtime/cuda/ops.h). The
-- emitter renders calls from here, the program checks each op's arguments against it when the op
-- is added, and a test holds every call against the C prototypes. Not here: what an op computes
-- (runtime/) or where an op goes (the family and layer files).
local M = {}

-- Argument types: buf, an arena buffer; w, a weight (or NULL); bw, either (Open-Sora's null
-- caption is a weight where Latte's negative prompt is an input buffer); int, an integer or a C integer
-- expression (a constant such as DITC_ACT_NONE, or ex->cfg_rank), or a dim expression of the
-- program (program.lua: P:dim); dim, an int that is the vocabulary dim of the argument's name
-- (runtime/README.md): when the program has that dim, a plain integer must equal it (the
-- emitter writes it as D_<name>), and any other value is given as a dim expression; num, a
-- float; store, the PAB
-- cache slot the emitter supplies inside a PAB module (pab_store, or NULL outside one).
-- A buf or w argument may name the element it must have, after a slash: buf/f32 an fp32 buffer,
-- buf/st a storage one, w/f32 a weight kept in fp32 in any build (program.lua: P:weight's
-- opt.dtype). An unmarked buf takes any buffer; an unmarked w a weight in storage only, so an
-- fp32 weight reaches only the kinds written for it. The program checks both when an op is added.
M.TYPES = { buf = true, w = true, bw = true, int = true, dim = true, num = true, store = true }
M.ELEMS = { f32 = true, st = true }

-- The FLOP rules (multiply-adds count 2; elementwise kinds count none): the benchmarks' and the
-- schedule's FLOP shares come from them.
local function gemm(a) return 2 * a.M * a.K * a.N end
local function sdpa(a) return 4 * (a.nseq * a.inner * a.len) * a.len * (a.H * a.D) end -- QK^T and PV
local function cross_sdpa(a) return 4 * a.B * a.N * a.L * (a.H * a.D) end
local function patchify(a) -- a GEMM per token (frames x padded rows x padded columns): Cin*pt*ph*pw in, C out
  return 2 * a.B * (a.Tn * -(-a.Hx // a.ph) * -(-a.Wx // a.pw)) * a.C * a.Cin * a.pt * a.ph * a.pw
end

-- A call: "function arg arg ..." where an argument that is not one of the kind's argument names
-- is C text as it stands (CTX, pab_slot, NULL, ex->comm).
local kinds, order = {}, {}

local function kind(name, spec, calls, flops)
  local args, types, elems = {}, {}, {}
  for a, t, e in spec:gmatch("([%w_]+):(%a+)/?([%w]*)") do
    assert(M.TYPES[t], "registry: " .. name .. ": unknown type " .. t)
    assert(e == "" or (M.ELEMS[e] and (t == "buf" or t == "w" and e == "f32")),
      "registry: " .. name .. ": argument " .. a .. " cannot be marked " .. e)
    args[#args + 1] = a
    types[a] = t
    if e ~= "" then elems[a] = e end
  end
  calls = calls or {}
  local plain = table.concat(args, " ")
  if calls.cpu == nil then calls.cpu = { "cpu_" .. name .. " " .. plain } end
  if calls.cuda == nil then calls.cuda = { "cuda_" .. name .. " CTX " .. plain } end
  kinds[name] = { name = name, args = args, types = types, elems = elems, calls = calls, flops = flops }
  order[#order + 1] = name
end

-- the collectives: the same call on every backend (runtime/denoiser/comm.h)
local function comm(fn, group, last)
  local call = { fn .. " ex->" .. group .. " send recv " .. last }
  return { cpu = call, cuda = call }
end

-- position tables and embeddings
kind("pos_embed_2d", "out:buf Hp:dim Wp:dim C:dim scale:num mul_h:num mul_w:num")
kind("rope_table", "cos_t:buf sin_t:buf freqs:w T:dim D:dim bf16:int")
kind("pos_embed_2d_f64", "out:buf Hp:dim Wp:dim C:dim div_h:num div_w:num interp:num")
kind("pos_embed_1d_f64", "out:buf T:dim C:dim div:num")
kind("rope_table_neox", "cos_t:buf sin_t:buf rows:int Wp:int D:dim nsec:int div:num") -- Wp 1: a 1-D table
kind("add_frame_pos", "x:buf tp:buf B:dim T:dim S:dim C:dim t0:int Tg:int")
kind("fill", "out:buf n:int value:num")
kind("sinusoid", "out:buf t:buf B:dim dim:int")
kind("patch_embed3d", "out:buf src:buf w:w b:w B:dim Cin:dim Tx:dim Hx:dim Wx:dim pt:dim ph:dim pw:dim C:dim t0:int "
  .. "Tn:int", nil, patchify)
kind("add_pos", "x:buf pe:buf BT:int S:dim C:dim")
kind("unpatchify", "out:buf src:buf B:dim Cout:dim T:dim Hp:dim Wp:dim pt:dim ph:dim pw:dim Tx:dim Hx:dim Wx:dim")
-- dense and elementwise
kind("linear", "out:buf src:buf w:w b:w M:int K:int N:int act:int", nil, gemm)
kind("silu", "out:buf src:buf n:int")
kind("add", "out:buf a:buf b:buf n:int")
kind("rms_norm", "out:buf src:buf w:w R:int C:dim eps:num")
-- the caption path
local cfg_text = "out:buf cond:buf uncond:bw uncond_per_prompt:int Bp:dim L:dim Cc:dim cond_first:int half:int"
kind("cfg_text", cfg_text)
kind("cfg_text_io", cfg_text, { cpu = { "cpu_cfg_text out cond uncond uncond_per_prompt Bp L Cc cond_first half" } })
kind("text_mask", "lens:buf idx:buf mask:buf Bp:dim L:dim B:dim")
kind("text_pack", "out:buf src:buf idx:buf lens:buf B:dim L:dim C:dim")
-- the block: norms, rotary embeddings, attention, residuals
kind("ln_modulate", "out:buf x:buf t:buf t_stride:int t_shift:int t_scale:int table:w shift:int scale:int B:dim R:int "
  .. "C:dim eps:num")
kind("qk_rmsnorm", "q:buf k:buf ld:int wq:w wk:w R:int H:dim D:dim eps:num")
kind("rope", "q:buf k:buf ld:int cos_t:buf sin_t:buf B:dim T:dim S:dim H:dim D:dim axis:int half:int")
kind("qk_rmsnorm_rope", "q:buf k:buf ld:int wq:w wk:w eps:num cos_t:buf sin_t:buf B:dim T:dim S:dim H:dim D:dim "
  .. "axis:int half:int R:int", { cpu = { "cpu_qk_rmsnorm q k ld wq wk R H D eps",
  "cpu_rope q k ld cos_t sin_t B T S H D axis half" },
  cuda = { "cuda_qk_rmsnorm_rope CTX q k ld wq wk eps cos_t sin_t B T S H D axis half" } })
local attention = "out:buf q:buf k:buf v:buf ld:int nseq:int inner:int outer_stride:int inner_stride:int tok_stride:int "
  .. "len:int H:dim D:dim scale:num"
local cross = "out:buf q:buf k:buf v:buf ld:int lens:buf B:dim N:dim L:dim H:dim D:dim scale:num"
kind("attention", attention, nil, sdpa)
kind("cross_attention", cross, nil, cross_sdpa)
kind("attention_cudnn", attention, { cpu = false }, sdpa) -- gen --attention cudnn: cuDNN's fused SDPA
kind("cross_attention_cudnn", cross, { cpu = false }, cross_sdpa)
kind("gate_residual", "x:buf src:buf t:buf table:w chunk:int nchunk:int B:dim R:int C:dim store:store")
kind("residual_store", "x:buf src:buf n:int store:store")
kind("pab_reuse", "x:buf n:int", { cpu = { "cpu_residual_store x pab_slot n NULL" },
  cuda = { "cuda_residual_store CTX x pab_slot n NULL" } })
-- CUDA only: a residual fused with the next LayerNorm + modulate (gen/families/dit_layers.lua places them)
kind("gate_residual_ln_modulate", "x:buf src:buf t:buf table:w chunk:int nchunk:int store:store out:buf ln_t:buf "
  .. "t_stride:int t_shift:int t_scale:int ln_table:w shift:int scale:int B:dim R:int C:dim eps:num", { cpu = false })
local res_ln = "out:buf t:buf t_stride:int t_shift:int t_scale:int table:w shift:int scale:int B:dim R:int C:dim eps:num"
kind("residual_ln_modulate", "x:buf src:buf store:store " .. res_ln, { cpu = false })
kind("pab_reuse_ln_modulate", "x:buf " .. res_ln, { cpu = false, cuda = { "cuda_residual_ln_modulate CTX x pab_slot "
  .. "NULL out t t_stride t_shift t_scale table shift scale B R C eps" } })
-- the text encoder (T5): embedding, relative position bias by offset, attention with that bias and
-- a key mask, the gated FFN's product
local function biased_sdpa(a) return 4 * a.B * a.L * a.L * (a.H * a.D) end
kind("embedding", "out:buf ids:buf table:w R:int C:dim")
kind("rel_bias", "out:buf table:w L:dim H:dim nb:int max_dist:int")
kind("attention_bias", "out:buf q:buf k:buf v:buf ld:int bias:buf mask:buf B:dim L:dim H:dim D:dim", nil, biased_sdpa)
kind("mul", "out:buf a:buf b:buf n:int")
kind("to_f32", "out:buf/f32 src:buf n:int") -- storage -> an fp32 buffer (a network's output, an fp32 operand)
-- fp32 activations and weights inside a 16-bit build (T5 in fp16: transformers keeps every
-- DenseReluDense.wo in fp32, and the residual stream turns fp32 at block 0's FFN; spec A.7-A.8).
-- On the CPU (fp32 storage) they are the plain ops; the clamp is its own function there too.
kind("linear_f32", "out:buf/f32 src:buf/f32 w:w/f32 M:int K:int N:int",
  { cpu = { "cpu_linear out src w NULL M K N DITC_ACT_NONE" } }, gemm)
kind("rms_norm_from_f32", "out:buf/st src:buf/f32 w:w R:int C:dim eps:num", { cpu = { "cpu_rms_norm out src w R C eps" } })
kind("add_f32", "out:buf/f32 a:buf/f32 b:buf/f32 n:int", { cpu = { "cpu_add out a b n" } })
kind("add_f32_st", "out:buf/f32 a:buf/f32 b:buf/st n:int", { cpu = { "cpu_add out a b n" } })
kind("clamp_fp16", "x:buf/st any_inf:buf n:int") -- after a residual add while the stream is fp16
-- the video decoders (VAEs): activations [N, C, T, H, W]; runtime/cpu/ops.h says what each computes
local function conv_flops(a) -- 2 x output elements x taps
  local To, Ho, Wo = a.T + a.pt0 + a.pt1 - a.kt + 1, a.H + 2 * a.ph - a.kh + 1, a.W + 2 * a.pw - a.kw + 1
  return 2 * a.N * a.Cout * To * Ho * Wo * a.Cin * a.kt * a.kh * a.kw
end
local function frame_sdpa(a) return 4 * a.N * a.T * a.HW * a.HW * a.C end
kind("conv3d", "out:buf src:buf w:w b:w N:int Cin:int Cout:int T:int H:int W:int kt:int kh:int kw:int pt0:int pt1:int "
  .. "ph:int pw:int replicate:int", nil, conv_flops)
kind("group_norm", "out:buf src:buf gamma:w beta:w N:int C:int T:int HW:int G:int eps:num per_frame:int silu:int")
kind("upsample2x", "out:buf src:buf R:int H:int W:int")
kind("depth_to_time", "out:buf src:buf N:int C:int T:int HW:int")
kind("time_lerp2x", "out:buf src:buf R:int T:int HW:int")
kind("mix", "out:buf a:buf b:buf m:w n:int flip:int")
kind("frame_attention", "out:buf q:buf k:buf v:buf N:int C:int T:int HW:int scale:num", nil, frame_sdpa)
kind("channel_affine", "out:buf src:buf a:w b:w N:int C:int S:int")
kind("scale", "out:buf src:buf n:int k:num divide:int")
kind("copy4", "out:buf src:buf n0:int n1:int n2:int n3:int os:int s0:int s1:int s2:int s3:int od:int d0:int d1:int "
  .. "d2:int d3:int")
kind("tile_blend", "b:buf a:buf R:int Ha:int Wa:int Hb:int Wb:int E:int axis:int")
kind("to_u8", "out:buf src:buf N:int C:int T:int HW:int mode:int")
kind("from_f32", "out:buf src:buf n:int") -- an fp32 io buffer (a network's input) -> storage
-- a decoder's progress before its call i of n (ditc_exec.progress; stage: DITC_PROGRESS_*)
kind("progress", "stage:int i:int n:int", { cpu = { "cpu_progress ex stage i n" }, cuda = { "cuda_progress ex stage i n" } })
-- sequence parallelism
kind("dsp_pack", "send:buf src:buf B:dim d1:int d2:int C:dim dim:int chunk:int n:int ranks:int")
kind("dsp_unpack", "dst:buf recv:buf B:dim d1:int d2:int C:dim dim:int chunk:int ranks:int")
kind("all_to_all", "send:buf recv:buf chunk:int", comm("ditc_comm_all_to_all", "comm", "chunk"))
kind("all_gather", "send:buf recv:buf bytes:int", comm("ditc_comm_all_gather", "comm", "bytes"))
kind("cfg_gather", "send:buf recv:buf bytes:int", comm("ditc_comm_all_gather", "cfg_comm", "bytes"))

M.kinds, M.order = kinds, order

-- The kind `name`, or an error naming it (a bug in a family or layer file).
function M.get(name)
  return kinds[name] or error("registry: no op kind " .. tostring(name), 2)
end

-- Checks the arguments `args` of an op `opname` of kind `name`: every declared argument but the
-- emitter's store is given, with a value of its type, and nothing else is.
function M.check(name, opname, args)
  local k = M.get(name)
  for _, a in ipairs(k.args) do
    local t, v = k.types[a], args[a]
    local ok = t == "store" and v == nil
      or t == "buf" and type(v) == "table" and v.buf ~= nil
      or t == "w" and (type(v) == "table" and v.w ~= nil or v == "NULL")
      or t == "bw" and type(v) == "table" and (v.buf ~= nil or v.w ~= nil)
      or (t == "int" or t == "dim") and (math.type(v) == "integer" or type(v) == "string" or type(v) == "table" and v.dim ~= nil)
      or t == "num" and type(v) == "number"
    if not ok then error(string.format("op %s (%s): argument %s: %s is not a %s", opname, name, a, tostring(v), t), 3) end
  end
  for a in pairs(args) do
    if not k.types[a] then error(string.format("op %s (%s): no argument %s", opname, name, a), 3) end
  end
end

-- The FLOPs of an op of kind `name` with arguments `args` (checked ones).
function M.flops(name, args)
  local rule = M.get(name).flops
  if not rule then return 0 end
  local values = {} -- dim expressions by their value
  for k, v in pairs(args) do values[k] = type(v) == "table" and v.dim and v.n or v end
  return rule(values)
end

-- The C text of an op of kind `name` on `backend` ("cpu" or "cuda"): one statement per call, each
-- argument replaced by values[arg] (the emitter's C expressions).
function M.render(name, backend, values)
  local k = M.get(name)
  local calls = k.calls[backend]
  if not calls then error("registry: op kind " .. name .. " has no " .. backend .. " call", 2) end
  local lines = {}
  for i, call in ipairs(calls) do
    local fn, rest = call:match("^(%S+)%s*(.*)$")
    local out = {}
    for tok in rest:gmatch("%S+") do out[#out + 1] = k.types[tok] and assert(values[tok], tok) or tok end
    lines[i] = "  " .. fn .. "(" .. table.concat(out, ", ") .. ");"
  end
  return table.concat(lines, "\n")
end

return M
