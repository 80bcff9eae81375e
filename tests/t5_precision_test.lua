-- tests/t5_precision_test.lua: the T5 encoder's program in each build's precision (gen/families/t5.lua,
-- spec A.7-A.8). fp16 storage (Latte-1, Open-Sora-Plan v1.1): every `DenseReluDense.wo` weight kept in
-- fp32 and every other weight in storage; the FFN's product cast to fp32 for an fp32 `wo`; the residual
-- stream an fp32 buffer from block 0's FFN on; exactly one clamp, after block 0's attention residual;
-- the weight layout aligned and without overlap, an fp32 tensor taking 4 bytes an element; the
-- generated files marking it. bf16 (Open-Sora) and fp32: the program of before, op for op. Also the
-- graph layer's element checks (an op kind's buf/f32, buf/st, w/f32 marks). Prints ok / not ok lines.
-- Run from the repository root: lua5.4 tests/t5_precision_test.lua. Not here: numerics (tests/gpu.sh
-- runs the fp16 build against the fixture; tests/ref/t5_precision.py bounds it).
dofile("gen/paths.lua")("")
require("strict")
local describe = require("describe")
local bakery = require("bake")
local Program = require("program")
local tap = dofile("tests/tap.lua")
local check, sh, read = tap.check, tap.sh, tap.read

local fam = describe.load_family("models/t5-v1.1.lua")
-- the op kinds only the fp16 precision uses (registry.lua)
local FP16_KINDS = { linear_f32 = true, rms_norm_from_f32 = true, add_f32 = true, add_f32_st = true, clamp_fp16 = true }

-- The baked program of a named variant for a backend and storage, as gen/main.lua makes it.
local function baked(name, backend, storage)
  local v = describe.named(fam, name)
  v.backend, v.storage = backend, storage
  return bakery.variant(fam, v, fam.path).program, v
end

local function ops_of(P)
  local list = P:linear_ops("encode")
  local by_name = {}
  for i, op in ipairs(list) do by_name[op.name] = i end
  return list, by_name
end

-- ---- fp16: the weights ----------------------------------------------------------------------------
local P16, v16 = baked("fixture", "cuda", "fp16")
local depth = v16.dims.depth
do
  local wo, bad = 0, nil
  for _, w in ipairs(P16.weight_list) do
    local is_wo = w.name:match("%.DenseReluDense%.wo%.weight$") ~= nil
    if is_wo then wo = wo + 1 end
    if (is_wo and w.dtype ~= "f32") or (not is_wo and w.dtype ~= "st") then
      bad = bad or (w.name .. " is " .. w.dtype)
    end
  end
  check(wo == depth and bad == nil, string.format("fp16: the %d DenseReluDense.wo weights are kept in fp32, the other %d "
    .. "weights in storage", wo, #P16.weight_list - wo), bad)
end

-- ---- fp16: the layout of the weight buffer --------------------------------------------------------
do
  local ws = {}
  for _, w in ipairs(P16.weight_list) do ws[#ws + 1] = w end
  table.sort(ws, function(a, b) return a.offset < b.offset end)
  local bad, f32_bytes = nil, 0
  for i, w in ipairs(ws) do
    local bytes = w.st_elems * P16.st_bytes
    local want = (w.dtype == "f32" and 4 or P16.st_bytes) * w.elems
    if bytes ~= want then bad = bad or string.format("%s spans %d bytes, not %d", w.name, bytes, want) end
    if w.offset % Program.WEIGHT_ALIGN ~= 0 then bad = bad or (w.name .. " is not aligned") end
    local next_off = ws[i + 1] and ws[i + 1].offset or P16.weight_elems
    if w.offset + w.st_elems > next_off then bad = bad or (w.name .. " overlaps the next weight or runs past the end") end
    if w.dtype == "f32" then f32_bytes = f32_bytes + bytes end
  end
  local wo = P16.weights["encoder.block.0.layer.1.DenseReluDense.wo.weight"]
  check(bad == nil and f32_bytes == depth * 4 * v16.dims.C * v16.dims.F and wo.st_elems == 2 * wo.elems,
    string.format("fp16: weight offsets aligned to %d storage elements, no overlap, each fp32 tensor 4 bytes an element "
      .. "(%d bytes of fp32 weights in a buffer of %d fp16 elements)", Program.WEIGHT_ALIGN, f32_bytes, P16.weight_elems), bad)
end

-- ---- fp16: the ops ------------------------------------------------------------------------------
do
  local list, at = ops_of(P16)
  local clamps, bad = {}, nil
  local function want(ok, msg) if not ok then bad = bad or msg end end
  for i, op in ipairs(list) do
    if op.kind == "clamp_fp16" then clamps[#clamps + 1] = i end
  end
  local a0 = at["encoder.block.0.layer.0.residual"]
  check(#clamps == 1 and a0 and clamps[1] == a0 + 1 and list[a0].kind == "add"
    and list[a0].args.out.buf == "x" and list[clamps[1]].args.x.buf == "x",
    "fp16: exactly one clamp, right after block 0's attention residual (the only add while the stream is fp16)",
    string.format("%d clamps", #clamps))
  for i = 0, depth - 1 do
    local a, f = string.format("encoder.block.%d.layer.0", i), string.format("encoder.block.%d.layer.1", i)
    local an, fn = list[at[a .. ".layer_norm"]], list[at[f .. ".layer_norm"]]
    local ar, fr = list[at[a .. ".residual"]], list[at[f .. ".residual"]]
    local wo, cast = list[at[f .. ".DenseReluDense.wo"]], list[at[f .. ".DenseReluDense.gate_f32"]]
    want(wo.kind == "linear_f32" and wo.args.src.buf == "g.f32" and wo.args.out.buf == "o.f32",
      f .. ": wo is not an fp32 linear from g.f32 to o.f32")
    want(cast and cast.kind == "to_f32" and cast.args.src.buf == "g" and at[f .. ".DenseReluDense.gate_f32"]
      == at[f .. ".DenseReluDense.wo"] - 1, f .. ": g*u is not cast to fp32 right before wo")
    want(fr.args.out.buf == "x.f32" and P16.buffers[fr.args.out.buf].dtype == "f32"
      and fr.kind == (i == 0 and "add_f32_st" or "add_f32"), f .. ": the FFN residual does not write the fp32 stream")
    if i == 0 then
      want(an.kind == "rms_norm" and fn.kind == "rms_norm" and an.args.src.buf == "x" and fn.args.src.buf == "x"
        and fr.args.b.buf == "x" and fr.args.a.buf == "o.f32", "block 0 does not read the fp16 stream")
    else
      want(an.kind == "rms_norm_from_f32" and fn.kind == "rms_norm_from_f32" and an.args.src.buf == "x.f32"
        and fn.args.src.buf == "x.f32", a .. ": its norms do not read the fp32 stream")
      want(ar.kind == "add_f32_st" and ar.args.out.buf == "x.f32" and ar.args.a.buf == "x.f32" and ar.args.b.buf == "o",
        a .. ": the attention output is not added into the fp32 stream")
    end
  end
  local fin = list[at["encoder.final_layer_norm"]]
  want(fin.kind == "rms_norm_from_f32" and fin.args.src.buf == "x.f32" and P16.buffers[fin.args.out.buf].dtype == "st"
    and list[#list].kind == "to_f32" and list[#list].args.out.buf == "last_hidden_state",
    "the final norm does not read the fp32 stream and write storage before last_hidden_state")
  local stream_writers = 0
  for i, op in ipairs(list) do
    for _, b in ipairs(op.writes) do
      if b == "x" and i > at["encoder.block.0.layer.1.residual"] then bad = bad or (op.name .. " writes x after block 0") end
      if b == "x.f32" then stream_writers = stream_writers + 1 end
    end
  end
  want(stream_writers == 2 * depth - 1 and P16.buffers["x"].last == at["encoder.block.0.layer.1.residual"],
    "the fp32 stream is not written by every residual from block 0's FFN on, or x lives past it")
  check(bad == nil, string.format("fp16: the residual stream is x.f32 (f32) from block 0's FFN on (%d residual adds "
    .. "into it), every later norm reads it in fp32 (rms_norm_from_f32), every wo is linear_f32 on g*u cast to fp32",
    2 * depth - 1), bad)
end

-- ---- bf16 and fp32: one element throughout, the program of the CPU reference ---------------------
do
  local Pc = baked("fixture", "cpu", "fp32")
  local function sig(P)
    local out = {}
    for _, op in ipairs(P:linear_ops("encode")) do
      out[#out + 1] = op.kind .. " " .. op.name .. " " .. table.concat(op.reads, ",") .. " -> " .. table.concat(op.writes, ",")
    end
    return table.concat(out, "\n")
  end
  local function layout(P)
    local out = {}
    for _, w in ipairs(P.weight_list) do out[#out + 1] = w.name .. "@" .. w.offset .. ":" .. w.dtype end
    return table.concat(out, ",")
  end
  for _, st in ipairs({ "bf16", "fp32" }) do
    local P = baked("fixture", "cuda", st)
    local odd = nil
    for _, op in ipairs(P:linear_ops("encode")) do
      if FP16_KINDS[op.kind] then odd = odd or op.name .. " (" .. op.kind .. ")" end
    end
    for _, b in ipairs(P.buffer_list) do
      if b.kind == "act" and b.dtype == "f32" and b.name ~= "position_bias" then odd = odd or ("buffer " .. b.name) end
    end
    check(odd == nil and sig(P) == sig(Pc) and layout(P) == layout(Pc),
      st .. ": every weight and activation in storage, no clamp: the CPU reference's ops and weight offsets, op for op",
      odd or "the op list or the layout differs")
  end
  -- the committed CPU files are this program (no op of the fp16 path in them)
  local fwd = read("out/t5-v1.1/fixture/forward.c") or ""
  local tab = read("out/t5-v1.1/fixture/tables.c") or ""
  local fp16_call = nil
  for k in pairs(FP16_KINDS) do fp16_call = fp16_call or fwd:match("cpu_" .. k .. "%(") end
  check(not fp16_call and not fwd:find("WF(W", 1, true)
    and not tab:find(", DITC_WT_F32 }", 1, true) and select(2, tab:gsub(", DITC_WT_ST }", "")) == #Pc.weight_list + #Pc.skipped,
    "out/t5-v1.1/fixture (CPU): no fp32 weight, fp32 op or clamp; every weight DITC_WT_ST")
end

-- ---- the generated files of the fp16 build mark it -----------------------------------------------
do
  local tmp = os.tmpname()
  os.remove(tmp)
  local rc, out = sh("lua5.4 gen/main.lua --model models/t5-v1.1.lua --variant fixture --backend cuda --storage fp16 "
    .. "--out " .. tmp .. " --quiet")
  local fwd, tab = read(tmp .. "/forward.cu") or "", read(tmp .. "/tables.c") or ""
  local off, man, plan = read(tmp .. "/offsets.h") or "", read(tmp .. "/manifest.txt") or "", read(tmp .. "/plan.txt") or ""
  local wf = select(2, fwd:gsub("WF%(WT_encoder_block_%d+_layer_1_DenseReluDense_wo_weight%)", ""))
  local w_wo = select(2, fwd:gsub("[^F]W%(WT_[%w_]*_wo_weight%)", ""))
  check(rc == 0 and wf == depth and w_wo == 0 and select(2, tab:gsub(", DITC_WT_F32 }", "")) == depth
    and select(2, off:gsub("wo_weight %d+ull /%* %[%d+, %d+%], fp32 %(%d+ storage elements%) %*/", "")) == depth
    and select(2, man:gsub("kept in fp32", "")) == depth
    and plan:find("of them " .. depth .. " tensors kept in fp32", 1, true) ~= nil
    and plan:find("f32 x.f32", 1, true) ~= nil and fwd:find("cuda_clamp_fp16(CTX, A(OFF_x), AI(OFF_x_any_inf)", 1, true),
    "fp16 build's files: forward.cu reads each wo through WF(), tables.c marks it DITC_WT_F32, offsets.h, manifest.txt "
    .. "and plan.txt say fp32, plan.txt lists the f32 stream", out)
  os.execute("rm -rf " .. tmp)
end

-- ---- the released XXL in fp16: the weights' bytes --------------------------------------------------
do
  local P, v = baked("xxl-120", "cuda", "fp16")
  local total, f32 = 0, 0
  for _, w in ipairs(P.weight_list) do
    total = total + w.elems
    if w.dtype == "f32" then f32 = f32 + w.elems end
  end
  local d = v.dims
  check(f32 == d.depth * d.C * d.F and P.weight_elems * 2 >= 2 * (total - f32) + 4 * f32,
    string.format("xxl-120 fp16: %d of %d parameters (the 24 wo) kept in fp32: %.2f GiB of weights, not %.2f in fp16 "
      .. "alone", f32, total, P.weight_elems * 2 / 2^30, total * 2 / 2^30))
end

-- ---- the graph layer's element checks -------------------------------------------------------------
do
  local P = Program.new("fp16")
  P:buffer("a", { 4 })
  P:buffer("a32", { 4 }, { dtype = "f32" })
  P:weight("w", { 4, 4 })
  P:weight("w32", { 4, 4 }, nil, { dtype = "f32" })
  local ok1, e1 = pcall(P.op, P, "add_f32", "t", { out = { buf = "a32" }, a = { buf = "a32" }, b = { buf = "a" }, n = 4 },
    { "a32", "a" }, { "a32" })
  local ok2, e2 = pcall(P.op, P, "linear", "t", { out = { buf = "a" }, src = { buf = "a" }, w = { w = "w32" }, b = "NULL",
    M = 1, K = 4, N = 4, act = "DITC_ACT_NONE" }, { "a" }, { "a" })
  local ok3, e3 = pcall(P.op, P, "linear_f32", "t", { out = { buf = "a32" }, src = { buf = "a32" }, w = { w = "w" },
    M = 1, K = 4, N = 4 }, { "a32" }, { "a32" })
  local ok4 = pcall(P.op, P, "linear_f32", "t", { out = { buf = "a32" }, src = { buf = "a32" }, w = { w = "w32" },
    M = 1, K = 4, N = 4 }, { "a32" }, { "a32" })
  local ok5 = pcall(P.weight, P, "w32", { 4, 4 }) -- the same tensor again in another element
  check(not ok1 and tostring(e1):find("argument b wants an f32 buffer, a is st", 1, true)
    and not ok2 and tostring(e2):find("wants a weight in storage, w32 is fp32", 1, true)
    and not ok3 and tostring(e3):find("wants a weight in fp32, w is storage", 1, true) and ok4 and not ok5,
    "an op kind's element marks are checked when an op is added: an st buffer for buf/f32, an fp32 weight where storage "
    .. "is wanted and the reverse are refused; a weight registered twice in two elements too",
    tostring(e1) .. " / " .. tostring(e2) .. " / " .. tostring(e3))
  local Q = Program.new("fp16")
  Q:weight("a", { 3 })
  Q:weight("b", { 130 }, nil, { dtype = "f32" })
  Q:weight("c", { 5 })
  Q:layout_weights()
  check(Q.weights.b.offset == 128 and Q.weights.c.offset == 128 + 384 and Q.weight_elems == 640,
    "layout: an fp32 weight of 130 elements takes 260 fp16 elements, rounded up to 384 (3 x 128)",
    string.format("%d %d %d", Q.weights.b.offset, Q.weights.c.offset, Q.weight_elems))
end

tap.finish("t5_precision_test")
