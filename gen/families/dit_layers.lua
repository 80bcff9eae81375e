-- dit_layers.lua: the DiT block sub-layers, each wrapped as a PAB module (modulated
-- self-attention over the block's axis, cross-attention, modulated MLP), the caption path, the
-- final layer, the resharding of sequence parallelism and the CUDA fusions of residuals with
-- the next norm. Weights are registered with their checkpoint names here. Not here: which
-- sub-layers a family has (the model description), plain pieces (nn.lua), op numerics (runtime).
local fp = require("fp")
local nn = require("nn")

local M = {}

-- The caption path once per generation: the CFG batch y.all [B, L, Cc] of the prompt in.y and
-- `uncond` (a { w = ... } null caption shared by all prompts, or a { buf = ... } per prompt),
-- through the two-layer projection `prefix` into `out` [B, L, C] (dumped under that name), each
-- sample's valid tokens (mask in.mask) packed to the front of y.packed [B, L, C] with counts
-- y.lens [B], and every block's cross-attention keys and values from it. Shared by STDiT3's
-- y_embedder and Latte's caption_projection.
function M.caption(P, v, prefix, names, out, uncond)
  local d = v.dims
  local B, L, C = d.B, d.L, d.C
  local cond_first = (v.sampler.cfg_order == "cond_first") and 1 or 0
  P:buffer("y.all", { B, L, d.Cc }, { dims = "B, L, Cc" })
  -- the null caption is a weight (storage) or an fp32 input: two op kinds, one per pointer type
  P:op(uncond.buf and "cfg_text_io" or "cfg_text", "y.all", {
    out = { buf = "y.all" }, cond = { buf = "in.y" }, uncond = uncond, uncond_per_prompt = uncond.buf and 1 or 0,
    Bp = d.Bp, L = L, Cc = d.Cc, cond_first = cond_first, half = d.cfgp > 1 and "ex->cfg_rank" or -1,
  }, { "in.y", uncond.buf }, { "y.all" })
  P:buffer("y.lens", { B }, { dtype = "i32", dims = "B" })
  P:buffer("y.idx", { B, L }, { dtype = "i32", dims = "B, L" })
  P:op("text_mask", "y.mask", {
    lens = { buf = "y.lens" }, idx = { buf = "y.idx" }, mask = { buf = "in.mask" }, Bp = d.Bp, L = L, B = B,
  }, { "in.mask" }, { "y.lens", "y.idx" })
  nn.mlp2(P, prefix, names, "y.all", P:dim("B * L"), P:dim("Cc"), P:dim("C"), P:dim("C"), out, { dump = out })
  P:buffer("y.packed", { B, L, C }, { dims = "B, L, C" })
  P:op("text_pack", "y.packed", {
    out = { buf = "y.packed" }, src = { buf = out }, idx = { buf = "y.idx" }, lens = { buf = "y.lens" },
    B = B, L = L, C = C,
  }, { out, "y.idx", "y.lens" }, { "y.packed" })
  for depth = 0, d.depth - 1 do -- keys and values depend only on the caption
    for _, blk in ipairs(v.blocks) do
      for _, sub in ipairs(blk.layers) do
        if sub.layer == "cross_attention" then
          M.cross_kv(P, string.format("%s.%d.%s", blk.prefix, depth, sub.name), sub, "y.packed")
        end
      end
    end
  end
end

-- ---- DiT block sub-layers ------------------------------------------------------------------------

local function modulated_norm(P, prefix, sub, v, blk_prefix, out, Rrows)
  local d, C = v.dims, P:dim("C")
  P:op("ln_modulate", prefix .. ".norm", {
    out = { buf = out }, x = { buf = P.residual }, t = { buf = v.t6 }, table = { w = blk_prefix .. ".scale_shift_table" },
    t_stride = 6 * C, t_shift = sub.mod[1] * C, t_scale = sub.mod[2] * C,
    shift = sub.mod[1], scale = sub.mod[2], B = d.B, R = Rrows, C = d.C, eps = fp.f32(sub.norm_eps),
  }, { P.residual, v.t6 }, { out })
end

local function reuse_branch(P, prefix, n)
  P:op("pab_reuse", prefix .. ".reuse", { x = { buf = P.residual }, n = n }, { P.residual }, { P.residual })
end

-- Projections of the attention input into q, k, v: one fused linear (rows [q | k | v], e.g.
-- STDiT3's attn.qkv) or three (diffusers' to_q/to_k/to_v). Returns the three operands (buffer
-- + column offset) and their row stride.
local function project_qkv(P, prefix, sub, src, rows, C, bufshape, dims)
  if sub.qkv then
    local qkv = P:buffer(prefix .. ".qkv", { bufshape[1], bufshape[2], 3 * C }, { dims = dims .. ", 3C" })
    nn.linear(P, prefix .. "." .. sub.qkv, src, qkv, rows, C, 3 * C)
    return { buf = qkv }, { buf = qkv, off = C }, { buf = qkv, off = 2 * C }, 3 * C, { qkv }
  end
  local out = {}
  for _, part in ipairs({ "q", "k", "v" }) do
    local b = P:buffer(prefix .. "." .. part, { bufshape[1], bufshape[2], C }, { dims = dims .. ", C" })
    nn.linear(P, prefix .. "." .. sub[part], src, b, rows, C, C)
    out[#out + 1] = b
  end
  return { buf = out[1] }, { buf = out[2] }, { buf = out[3] }, C, out
end

-- Resharding of sequence parallelism (docs/upstream.md#dsp-all-to-all): src [B, d1, d2, C] is cut into P
-- chunks along `dim` (zero-padded), exchanged by one all-to-all, and the received chunks are
-- placed along the other dim of dst [B, e1, e2, C] (padding dropped).
-- The sizes are dim names (e.g. "Tl", "S").
local function reshard(P, v, name, src, dst, d1, d2, dim, chunk_in, n, e1, e2, chunk_out)
  local d, loc = v.dims, v.loc
  d1, d2, chunk_in, n, e1, e2, chunk_out = P:dim(d1), P:dim(d2), P:dim(chunk_in), P:dim(n), P:dim(e1), P:dim(e2), P:dim(chunk_out)
  local c1, c2 = dim == 1 and chunk_in or d1, dim == 2 and chunk_in or d2
  local send = P:buffer(name .. ".send", { loc.sp, d.B, c1, c2, d.C }, { dims = "P, B, chunk, C" })
  local recv = P:buffer(name .. ".recv", { loc.sp, d.B, c1, c2, d.C }, { dims = "P, B, chunk, C" })
  P:op("dsp_pack", name .. ".pack", { send = { buf = send }, src = { buf = src }, B = d.B, d1 = d1, d2 = d2, C = d.C,
    dim = dim, chunk = chunk_in, n = n, ranks = P:dim("sp") }, { src }, { send })
  P:op("all_to_all", name, { send = { buf = send }, recv = { buf = recv }, chunk = P.buffers[send].bytes // loc.sp },
    { send }, { recv })
  P:op("dsp_unpack", name .. ".unpack", { dst = { buf = dst }, recv = { buf = recv }, B = d.B, d1 = e1, d2 = e2, C = d.C,
    dim = 3 - dim, chunk = chunk_out, ranks = P:dim("sp") }, { recv }, { dst })
end

-- Modulated self-attention over the block's axis (spatial: the S tokens of a frame; temporal:
-- the T frames of a spatial location), with optional qk RMSNorm and rotary embedding. Under
-- sequence parallelism (rest: frames sharded) the temporal attention runs between two
-- all-to-alls, on all T frames of S/sp spatial positions (docs/upstream.md#dsp-open-sora-layout, paper layout).
function M.self_attention(P, v, prefix, blk, sub, block_prefix)
  local d, loc = v.dims, v.loc
  local B, C, H, D = d.B, d.C, d.H, d.D
  local switched = loc.sp > 1 and blk.axis == "temporal"
  local T, S = P:dim("Tl"), P:dim("S")                      -- the attention's layout [B, T, S]
  if switched then T, S = P:dim("T"), P:dim("Sl") end
  local N, rows = T * S, P:dim("B") * T * S
  local h = P:buffer(prefix .. ".in", { B, loc.N, C }, { dims = "B, N, C" })
  modulated_norm(P, prefix, sub, v, block_prefix, h, P:dim("Nl"))
  local src = h
  if switched then
    src = P:buffer(prefix .. ".in_t", { B, T, S, C }, { dims = "B, T, S/sp, C" })
    reshard(P, v, prefix .. ".to_temporal", h, src, "Tl", "S", 2, "Sl", "S", "T", "Sl", "Tl")
  end
  local o = P:buffer(prefix .. ".o", { B, N, C }, { dims = "B, N, C" })
  local q, k, vv, ld, bufs = project_qkv(P, prefix, sub, src, rows, P:dim("C"), { B, N }, "B, N")
  -- qk RMSNorm and RoPE: one op each, or one fused pass when the attention has both
  local norm, rope
  if sub.q_norm and v.config.qk_norm then
    local wq = P:weight(prefix .. "." .. sub.q_norm .. ".weight", { D })
    local wk = P:weight(prefix .. "." .. sub.k_norm .. ".weight", { D })
    norm = { wq = { w = wq }, wk = { w = wk }, R = rows, eps = fp.f32(sub.qk_norm_eps) }
  end
  if blk.rope and v.rope[blk.axis] then -- the class builds the tables when RoPE is on
    local r = v.rope[blk.axis]
    rope = { cos_t = { buf = r.cos }, sin_t = { buf = r.sin }, B = B, T = T, S = S, axis = blk.axis == "temporal" and 0 or 1,
      half = r.half }
  end
  local reads = { table.unpack(bufs) }
  if rope then reads[#reads + 1], reads[#reads + 2] = rope.cos_t.buf, rope.sin_t.buf end
  local function qk_op(kind, name, parts)
    local args = { q = q, k = k, ld = ld, H = H, D = D }
    for _, part in ipairs(parts) do
      for key, val in pairs(part) do args[key] = val end
    end
    P:op(kind, prefix .. name, args, reads, bufs)
  end
  if norm and rope then
    qk_op("qk_rmsnorm_rope", ".qk_norm_rope", { norm, rope })
  elseif norm then
    qk_op("qk_rmsnorm", ".qk_norm", { norm })
  elseif rope then
    qk_op("rope", ".rope", { rope })
  end
  local seq = (blk.axis == "spatial")
      and { nseq = P:dim("B") * T, inner = 1, outer_stride = S, inner_stride = 0, tok_stride = 1, len = S }
      or { nseq = P:dim("B"), inner = S, outer_stride = T * S, inner_stride = 1, tok_stride = S, len = T }
  P:op("attention", prefix .. ".sdpa", {
    out = { buf = o }, q = q, k = k, v = vv, ld = ld, nseq = seq.nseq, inner = seq.inner, outer_stride = seq.outer_stride,
    inner_stride = seq.inner_stride, tok_stride = seq.tok_stride, len = seq.len, H = H, D = D,
    scale = fp.f32(1 / math.sqrt(D)),
  }, bufs, { o })
  local proj = P:buffer(prefix .. ".proj", { B, loc.N, C }, { dims = "B, N, C" })
  if switched then
    local proj_t = P:buffer(prefix .. ".proj_t", { B, T, S, C }, { dims = "B, T, S/sp, C" })
    nn.linear(P, prefix .. "." .. sub.proj, o, proj_t, rows, P:dim("C"), P:dim("C"))
    reshard(P, v, prefix .. ".to_spatial", proj_t, proj, "T", "Sl", 1, "Tl", "T", "Tl", "S", "Sl")
  else
    nn.linear(P, prefix .. "." .. sub.proj, o, proj, rows, P:dim("C"), P:dim("C"))
  end
  P:op("gate_residual", prefix .. ".gate", {
    x = { buf = P.residual }, src = { buf = proj }, t = { buf = v.t6 }, table = { w = block_prefix .. ".scale_shift_table" },
    chunk = sub.mod[3], nchunk = 6, B = B, R = P:dim("Nl"), C = C,
  }, { P.residual, proj, v.t6 }, { P.residual })
end

-- Cross-attention keys and values of one block from the caption [B, L, C], computed once per
-- generation: fused kv_linear (rows [k | v]) or diffusers' to_k/to_v.
function M.cross_kv(P, prefix, sub, ytext)
  local B, L, C = P:dim("B"), P:dim("L"), P:dim("C")
  if sub.kv then
    local kv = P:buffer(prefix .. ".kv", { B, L, 2 * C }, { dims = "B, L, 2C" })
    nn.linear(P, prefix .. "." .. sub.kv, ytext, kv, B * L, C, 2 * C)
    return
  end
  for _, part in ipairs({ "k", "v" }) do
    local b = P:buffer(prefix .. "." .. part, { B, L, C }, { dims = "B, L, C" })
    nn.linear(P, prefix .. "." .. sub[part], ytext, b, B * L, C, C)
  end
end

-- Cross-attention of every token to its sample's valid caption tokens (no norm, no gate).
function M.cross_attention(P, v, prefix, sub)
  local d = v.dims
  local B, N, C = P:dim("B"), P:dim("Nl"), P:dim("C")
  local q = P:buffer(prefix .. ".q", { B, N, C }, { dims = "B, N, C" })
  local o = P:buffer(prefix .. ".o", { B, N, C }, { dims = "B, N, C" })
  local proj = P:buffer(prefix .. ".proj", { B, N, C }, { dims = "B, N, C" })
  nn.linear(P, prefix .. "." .. sub.q, P.residual, q, B * N, C, C)
  local k, vv, ld, kvbufs
  if sub.kv then
    k, vv, ld, kvbufs = { buf = prefix .. ".kv" }, { buf = prefix .. ".kv", off = C }, 2 * C, { prefix .. ".kv" }
  else
    k, vv, ld, kvbufs = { buf = prefix .. ".k" }, { buf = prefix .. ".v" }, C, { prefix .. ".k", prefix .. ".v" }
  end
  local reads = { q, v.text_lens, table.unpack(kvbufs) }
  P:op("cross_attention", prefix .. ".sdpa", {
    out = { buf = o }, q = { buf = q }, k = k, v = vv, ld = ld, lens = { buf = v.text_lens },
    B = B, N = N, L = d.L, H = d.H, D = d.D, scale = fp.f32(1 / math.sqrt(d.D)),
  }, reads, { o })
  nn.linear(P, prefix .. "." .. sub.proj, o, proj, B * N, C, C)
  P:op("residual_store", prefix .. ".residual", { x = { buf = P.residual }, src = { buf = proj }, n = B * N * C },
    { P.residual, proj }, { P.residual })
end

-- Modulated MLP: fc1 -> GELU(tanh) -> fc2, gated.
function M.modulated_mlp(P, v, prefix, sub, block_prefix)
  local B, N, C, F = P:dim("B"), P:dim("Nl"), P:dim("C"), P:dim("F")
  local h = P:buffer(prefix .. ".in", { B, N, C }, { dims = "B, N, C" })
  local hid = P:buffer(prefix .. ".hidden", { B, N, F }, { dims = "B, N, F" })
  local out = P:buffer(prefix .. ".out", { B, N, C }, { dims = "B, N, C" })
  modulated_norm(P, prefix, sub, v, block_prefix, h, N)
  nn.linear(P, prefix .. "." .. sub.fc1, h, hid, B * N, C, F, { act = sub.act })
  nn.linear(P, prefix .. "." .. sub.fc2, hid, out, B * N, F, C)
  P:op("gate_residual", prefix .. ".gate", {
    x = { buf = P.residual }, src = { buf = out }, t = { buf = v.t6 }, table = { w = block_prefix .. ".scale_shift_table" },
    chunk = sub.mod[3], nchunk = 6, B = B, R = N, C = C,
  }, { P.residual, out, v.t6 }, { P.residual })
end

-- ---- sequence parallelism ----------------------------------------------------------------------

-- Adds the sharding dims to d for sp ranks: frames sharded at rest (Tl per rank), S/sp positions
-- in temporal attention (Sl), both padded with zeros at the end (docs/upstream.md#dsp-open-sora-layout).
function M.shard_dims(d, sp)
  d.sp = sp
  d.Tl, d.Sl = (d.T + sp - 1) // sp, (d.S + sp - 1) // sp
  d.Nl = d.Tl * d.S
  return { sp = sp, T = d.Tl, N = d.Nl, Tg = d.T, Sl = d.Sl } -- the blocks' view (v.loc)
end

-- Before the final layer every rank gathers all frames of x (docs/upstream.md#dsp-open-sora-layout step 5); returns the
-- buffer holding [B, N, C] (the residual stream itself when sp = 1).
function M.gather_frames(P, v)
  local d = v.dims
  if d.sp == 1 then return P.residual end
  local xf = P:buffer("x.gathered", { d.B, d.N, d.C }, { dims = "B, N, C" })
  local recv = P:buffer("x.gather", { d.sp, d.B, d.Tl, d.S, d.C }, { dims = "sp, B, T/sp, S, C" })
  P:op("all_gather", "x.gather", { send = { buf = P.residual }, recv = { buf = recv }, bytes = P.buffers[P.residual].bytes },
    { P.residual }, { recv })
  P:op("dsp_unpack", "x.gather.unpack", { dst = { buf = xf }, recv = { buf = recv }, B = d.B, d1 = P:dim("T"),
    d2 = P:dim("S"), C = d.C, dim = 1, chunk = P:dim("Tl"), ranks = P:dim("sp") }, { recv }, { xf })
  return xf
end

-- The model output "out" [2 Bp, Cout, Tx, Hx, Wx]: written directly, or under CFG parallelism
-- this rank's half, gathered from the pair of ranks (the only CFG exchange of a step).
-- Returns the buffer unpatchify writes.
function M.model_output(P, v)
  local d = v.dims
  P:buffer("out", { 2 * d.Bp, d.Cout, d.Tx, d.Hx, d.Wx }, { kind = "io", role = "output", dims = "2 Bp, Cout, Tx, Hx, Wx" })
  if d.cfgp == 1 then return "out", function() end end
  local half = P:buffer("out.half", { d.B, d.Cout, d.Tx, d.Hx, d.Wx }, { dims = "Bp, Cout, Tx, Hx, Wx", dtype = "f32" })
  return half, function()
    P:op("cfg_gather", "out.gather", { send = { buf = half }, recv = { buf = "out" },
      bytes = P.buffers[half].bytes }, { half }, { "out" })
  end
end

-- The final layer and unpatchify, shared by both classes (STDiT3's T2IFinalLayer, Latte's
-- norm_out + proj_out): all frames gathered, LN(x) * (1 + scale) + shift where the embedding
-- t [B, C] is added to both rows of `table` [2, C], the output linear `linear` into `name`
-- [B, N, pt*ph*pw*Cout] (dumped under that name), then unpatchify into the model output.
function M.final_layer(P, v, t, table_name, norm_name, linear, name)
  local d = v.dims
  local B, N, C = P:dim("B"), P:dim("N"), P:dim("C")
  local xf = M.gather_frames(P, v)
  P:buffer("final.in", { B, N, C }, { dims = "B, N, C" })
  P:weight(table_name, { 2, C })
  P:op("ln_modulate", norm_name, {
    out = { buf = "final.in" }, x = { buf = xf }, t = { buf = t }, table = { w = table_name },
    t_stride = C, t_shift = 0, t_scale = 0, -- the same t is added to both table rows
    shift = 0, scale = 1, B = B, R = N, C = C, eps = fp.f32(1e-6),
  }, { xf, t }, { "final.in" })
  P:buffer(name, { B, N, P:dim("Fo") }, { dims = "B, N, Fo" })
  nn.linear(P, linear, "final.in", name, B * N, C, P:dim("Fo"), { dump = name })
  local out, gather = M.model_output(P, v)
  P:op("unpatchify", "unpatchify", {
    out = { buf = out }, src = { buf = name }, B = B, Cout = d.Cout, T = d.T, Hp = d.Hp, Wp = d.Wp,
    pt = d.pt, ph = d.ph, pw = d.pw, Tx = d.Tx, Hx = d.Hx, Wx = d.Wx,
  }, { name }, { out })
  gather()
  if v.backend == "cuda" then M.fuse_residual_norms(P) end -- the step phase is complete here
end

-- ---- CUDA fusion: a residual and the next LayerNorm + modulate in one pass over x ------------------

-- The op of a step-phase item that runs first (a group: the first of its compute branch).
local function first_op(item) return item.group and item.compute[1] or item end

-- The residual kinds that can take the next ln_modulate, and the fused kind each becomes.
local FUSED = { gate_residual = "gate_residual_ln_modulate", residual_store = "residual_ln_modulate",
  pab_reuse = "pab_reuse_ln_modulate" }

-- Fuses every residual into x that is directly followed, in the step phase, by an ln_modulate of
-- x (CUDA backend only; the CPU program keeps the two ops). Pairs: a gated sub-layer's residual
-- (self-attention, MLP) and the next sub-layer's or the final layer's norm; the cross-attention
-- residual and the MLP's norm. Across PAB modules A (the residual) and B (the norm): the norm
-- moves into A and is fused with A's last op in both of A's branches (compute: the residual;
-- reuse: the cache added), so x and the norm's output are right whichever branch each module
-- takes; B's compute branch starts after its norm. When B reuses, the norm's output goes unread
-- (one write of [B, N, C] that the unfused program does not make); when B computes, the fused
-- pass saves a read of x. Returns the number of pairs fused.
function M.fuse_residual_norms(P)
  local items, n = P.ops.step, 0
  local i = 1
  while i < #items do
    local a, b = items[i], items[i + 1]
    local lasts = a.group and { a.compute[#a.compute], a.reuse[#a.reuse] } or { a }
    local norm = first_op(b)
    local ok = norm and norm.kind == "ln_modulate" and norm.args.x.buf == P.residual and not norm.dump
    for _, op in ipairs(lasts) do
      ok = ok and op and FUSED[op.kind] and op.args.x.buf == P.residual and not op.dump
    end
    if ok then
      local na = norm.args
      for _, op in ipairs(lasts) do
        local r, args = op.args, {}
        local val = P.value
        assert(r.B == nil or (val(r.B) == val(na.B) and val(r.R) == val(na.R) and val(r.C) == val(na.C)),
          "fuse: the residual and the norm differ in shape")
        assert(r.n == nil or val(r.n) == val(na.B) * val(na.R) * val(na.C), "fuse: the residual and the norm differ in size")
        for k, val in pairs(r) do args[k] = val end
        args.n = nil
        for _, k in ipairs({ "out", "t_stride", "t_shift", "t_scale", "shift", "scale", "B", "R", "C", "eps" }) do
          args[k] = na[k]
        end
        if op.kind == "gate_residual" then args.ln_t, args.ln_table = na.t, na.table
        else args.t, args.table = na.t, na.table end
        local reads = { table.unpack(op.reads) }
        for _, buf in ipairs(norm.reads) do
          local seen = false
          for _, r0 in ipairs(reads) do seen = seen or r0 == buf end
          if not seen then reads[#reads + 1] = buf end
        end
        op.kind, op.args, op.reads = FUSED[op.kind], args, reads
        op.writes = { table.unpack(op.writes) }
        op.writes[#op.writes + 1] = na.out.buf
        op.name = op.name .. "+" .. norm.name
      end
      if b.group then table.remove(b.compute, 1) else table.remove(items, i + 1) end
      n = n + 1
    end
    i = i + 1
  end
  P.fused_norms = n
  return n
end

-- The first patch frame of this rank (a C expression when frames are sharded).
function M.first_frame(d)
  return d.sp > 1 and "ex->rank * D_Tl" or 0
end

-- One DiT block: its sub-layers in description order, each a PAB module.
function M.block(P, v, block_prefix, blk, depth)
  local d = v.dims
  P:weight(block_prefix .. ".scale_shift_table", { 6, d.C })
  for _, sub in ipairs(blk.layers) do
    local prefix = block_prefix .. "." .. sub.name
    local kind = (sub.pab == "attn") and blk.pab or sub.pab
    P:pab_module(prefix, kind, depth, blk.pab, function(branch)
      if branch == "reuse" then return reuse_branch(P, prefix, P:dim("B * Nl * C")) end
      if sub.layer == "self_attention" then M.self_attention(P, v, prefix, blk, sub, block_prefix)
      elseif sub.layer == "cross_attention" then M.cross_attention(P, v, prefix, sub)
      else M.modulated_mlp(P, v, prefix, sub, block_prefix) end
    end)
  end
  local last = P.ops.step[#P.ops.step]
  last.dump = block_prefix -- the block's output, after its last module
  last.dump_buf = P.residual
end

return M
