-- dit.lua: the composition every DiT family shares (STDiT3 in stdit3.lua, LatteT2V in
-- latte.lua): the denoiser's io buffers, the timestep conditioning that feeds adaLN, the residual
-- stream from the patch embedding plus the 2-D position table, the blocks interleaved per depth,
-- and the final layer. A family file adds what is its own (embedders, position tables, caption
-- path) and calls these in its order. Not here: the sub-layers themselves (dit_layers.lua).
local Program = require("program")
local dit_layers = require("dit_layers")
local nn = require("nn")

local M = {}

-- What each dim of a DiT counts (runtime/README.md's vocabulary), for the generated enum.
M.DIM_DOC = {
  Bp = "prompts", B = "transformer batch of one rank, CFG included", cfgp = "CFG ranks (2: CFG-parallel)",
  Cin = "latent channels in", Cout = "model output channels", Tx = "latent frames", Hx = "latent height",
  Wx = "latent width", pt = "patch frames", ph = "patch rows", pw = "patch columns", C = "hidden size",
  H = "attention heads", D = "head dim", F = "MLP hidden size", L = "text tokens", Cc = "caption channels",
  depth = "blocks of each kind", T = "frames after patching", Hp = "patch rows per frame",
  Wp = "patch columns per frame", S = "spatial tokens per frame", N = "tokens per sample",
  Fo = "final-layer features per token", sp = "sequence-parallel ranks", Tl = "frames of this rank",
  Sl = "spatial tokens of this rank (temporal attention)", Nl = "tokens of this rank",
}

-- A DiT's program: its phases (prologue, step) over the variant's storage, naming its dims.
function M.program(v)
  local P = Program.new(v.storage, v.fail_size)
  P:use_dims(v.dims, M.DIM_DOC)
  return P
end

-- The residual stream's buffer name: this rank's frames [B, T/sp * S, C] (all of them when sp = 1).
M.RESIDUAL = "x"

-- The io buffers a DiT denoiser's runtime writes and reads: the model inputs of one call (latents
-- and timesteps of the CFG batch), the conditioning (text, mask; negative: a per-prompt negative
-- text, Latte's), and the sampler's latent.
function M.io(P, d, opt)
  P:buffer("in.x", { d.B, d.Cin, d.Tx, d.Hx, d.Wx }, { kind = "io", role = "input", dims = "B, Cin, Tx, Hx, Wx" })
  P:buffer("in.t", { d.B }, { kind = "io", role = "input", dims = "B" })
  P:buffer("in.y", { d.Bp, d.L, d.Cc }, { kind = "io", role = "input", dims = "Bp, L, Cc" })
  if opt and opt.negative then
    P:buffer("in.y_neg", { d.Bp, d.L, d.Cc }, { kind = "io", role = "input", dims = "Bp, L, Cc" })
  end
  P:buffer("in.mask", { d.Bp, d.L }, { kind = "io", role = "input", dtype = "i32", dims = "Bp, L" })
  P:buffer("sampler.z", { d.Bp, d.Cin, d.Tx, d.Hx, d.Wx }, { kind = "io", role = "state", dims = "Bp, Cin, Tx, Hx, Wx" })
end

-- adaLN's six rows per sample: SiLU(src [B, C]) -> the linear `prefix` -> out [B, 6C].
function M.t_block(P, src, prefix, out)
  local B, C = P:dim("B"), P:dim("C")
  P:buffer("t.act", { B, C }, { dims = "B, C" })
  P:op("silu", "t.act", { out = { buf = "t.act" }, src = { buf = src }, n = B * C }, { src }, { "t.act" })
  P:buffer(out, { B, 6 * C }, { dims = "B, 6C" })
  nn.linear(P, prefix, "t.act", out, B, C, 6 * C, { dump = out })
end

-- The residual stream: the 3-D patch embedding of in.x (weights `wprefix`.weight of wshape and
-- `wprefix`.bias) plus the 2-D position table `pos` [S, C]; dumps: the embedding's, the sum's.
function M.embed(P, d, wprefix, wshape, pt, pos, names)
  P.residual = P:buffer(M.RESIDUAL, { d.B, d.Nl, d.C }, { dims = d.sp > 1 and "B, T/sp * S, C" or "B, N, C" })
  local x = P.residual
  local w = P:weight(wprefix .. ".weight", wshape, { d.C, d.Cin * pt * d.ph * d.pw }) -- a GEMM per patch
  local b = P:weight(wprefix .. ".bias", { d.C })
  P:op("patch_embed3d", names.embed, {
    out = { buf = x }, src = { buf = "in.x" }, w = { w = w }, b = { w = b },
    B = d.B, Cin = d.Cin, Tx = d.Tx, Hx = d.Hx, Wx = d.Wx, pt = pt, ph = d.ph, pw = d.pw, C = d.C,
    t0 = dit_layers.first_frame(d), Tn = P:dim("Tl"),
  }, { "in.x" }, { x }, { dump = names.embed_dump })
  P:op("add_pos", names.pos, { x = { buf = x }, pe = { buf = pos }, BT = P:dim("B * Tl"), S = d.S, C = d.C },
    { x, pos }, { x }, { dump = names.pos_dump })
end

-- The blocks, interleaved per depth in the description's order; before(blk, depth), when given,
-- adds ops in front of a block (Latte's frame positions before temporal block 0).
function M.blocks(P, v, before)
  for depth = 0, v.dims.depth - 1 do
    for _, blk in ipairs(v.blocks) do
      if before then before(blk, depth) end
      dit_layers.block(P, v, string.format("%s.%d", blk.prefix, depth), blk, depth)
    end
  end
end

return M
