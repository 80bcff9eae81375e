-- stdit3.lua: the STDiT3 (Open-Sora 1.2) forward pass as an op program (docs/upstream.md#open-sora-12-forward):
-- embeddings and caption path once per generation, then per step the timestep conditioning,
-- patch embedding, the interleaved spatial/temporal blocks described by the model file, the final
-- layer and unpatchify. Sub-layers come from layers.lua; this file only composes them.
-- Not here: numerics of single ops (runtime), schedules (rflow.lua, pab.lua), memory (plan.lua).
local fp = require("fp")
local Program = require("program")
local layers = require("layers")
local S = require("schema")

local M = {}

-- ---- configuration (hpcai-tech/OpenSora-STDiT-v3 config.json names) -------------------------

M.class_names = { "STDiT3" }
M.config_fields = {
  depth = S.int { min = 1, max = 256 },
  hidden_size = S.int { min = 4, max = 65536 },
  num_heads = S.int { min = 1, max = 1024 },
  mlp_ratio = S.num { gt = 0, max = 64 },
  patch_size = S.list(S.int { min = 1, max = 64 }, { len = 3 }),
  in_channels = S.int { min = 1, max = 4096 },
  pred_sigma = S.bool(),
  caption_channels = S.int { min = 1, max = 65536 },
  model_max_length = S.int { min = 1, max = 65536 },
  qk_norm = S.bool(),
  input_sq_size = S.int { min = 1, max = 65536 },
  skip_y_embedder = S.bool(),
}
M.config_required = { "caption_channels", "depth", "hidden_size", "in_channels", "input_sq_size", "mlp_ratio",
  "model_max_length", "num_heads", "patch_size", "pred_sigma", "qk_norm" }
-- config.json fields of upstream's STDiT3Config with no effect on inference: ignored with a note
M.config_json_ignored = {
  input_size = true, class_dropout_prob = true, drop_path = true, enable_flash_attn = true,
  enable_layernorm_kernel = true, enable_sequence_parallelism = true, only_train_temporal = true,
  freeze_y_embedder = true,
}
-- metadata of the export: skipped silently (model_type and architectures are checked)
M.config_json_metadata = { torch_dtype = true, transformers_version = true, architectures = true, model_type = true }

function M.check_config(c, fail)
  if c.skip_y_embedder then fail("skip_y_embedder", "true is not supported (the caption MLP is part of the model)") end
end

-- Dims in the project vocabulary (runtime/README.md), after the checks the math needs.
function M.dims(v, fail)
  local c = v.config
  if not v.fps then fail({ "fps" }, "STDiT3 is conditioned on the frame rate: the description needs fps") end
  if c.hidden_size % c.num_heads ~= 0 then
    fail({ "config", "num_heads" }, string.format("hidden_size %d is not divisible by num_heads %d", c.hidden_size, c.num_heads))
  end
  if c.hidden_size % 4 ~= 0 then fail({ "config", "hidden_size" }, "must be divisible by 4 (2-D sin-cos position embedding)") end
  local head_dim = c.hidden_size // c.num_heads
  if head_dim % 2 ~= 0 then fail({ "config", "num_heads" }, "head dim must be even (rotary embedding)") end
  local mlp_hidden = c.hidden_size * c.mlp_ratio
  if mlp_hidden ~= math.floor(mlp_hidden) then fail({ "config", "mlp_ratio" }, "hidden_size * mlp_ratio must be an integer") end
  if v.text_len and v.text_len ~= c.model_max_length then
    fail({ "text_len" }, string.format("STDiT3 reads model_max_length (%d) text tokens", c.model_max_length))
  end
  local p = c.patch_size
  local d = {
    Bp = v.batch, B = (v.cfg_parallel and 1 or 2) * v.batch, cfgp = v.cfg_parallel and 2 or 1, Cin = c.in_channels, Cout = c.pred_sigma and 2 * c.in_channels or c.in_channels,
    Tx = v.latent[1], Hx = v.latent[2], Wx = v.latent[3], pt = p[1], ph = p[2], pw = p[3],
    C = c.hidden_size, H = c.num_heads, D = head_dim, F = math.floor(mlp_hidden),
    L = c.model_max_length, Cc = c.caption_channels, depth = c.depth,
  }
  d.T = (d.Tx + d.pt - 1) // d.pt
  d.Hp = (d.Hx + d.ph - 1) // d.ph
  d.Wp = (d.Wx + d.pw - 1) // d.pw
  d.S = d.Hp * d.Wp
  d.N = d.T * d.S
  d.P = d.pt * d.ph * d.pw * d.Cout -- final layer output features per token
  d.loc = layers.shard_dims(d, v.sp)
  return d
end

-- ---- op program --------------------------------------------------------------------------------

function M.build(variant)
  local d = variant.dims
  local v = setmetatable({ t6 = "t_block", text_lens = "y.lens", rope = {}, loc = d.loc }, { __index = variant })
  local P = Program.new(variant.storage, variant.fail_size)
  local R = fp.rounder(v.dtype)
  local B, Bp, C, L = d.B, d.Bp, d.C, d.L

  -- io buffers (runtime-visible, persistent)
  P:buffer("in.x", { B, d.Cin, d.Tx, d.Hx, d.Wx }, { kind = "io", role = "input", dims = "B, Cin, Tx, Hx, Wx" })
  P:buffer("in.t", { B }, { kind = "io", role = "input", dims = "B" })
  P:buffer("in.y", { Bp, L, d.Cc }, { kind = "io", role = "input", dims = "Bp, L, Cc" })
  P:buffer("in.mask", { Bp, L }, { kind = "io", role = "input", dtype = "i32", dims = "Bp, L" })
  P:buffer("sampler.z", { Bp, d.Cin, d.Tx, d.Hx, d.Wx }, { kind = "io", role = "state", dims = "Bp, Cin, Tx, Hx, Wx" })

  -- ---- prologue: once per generation ----------------------------------------------------------
  P:set_phase("prologue")
  local h_px, w_px = R(v.height), R(v.width)             -- height[0].item(): the dtype's value
  local scale = math.sqrt(h_px * w_px) / v.config.input_sq_size
  local base = math.floor(math.sqrt(d.S) + 0.5)           -- round(S ** 0.5), never a tie
  P:buffer("pos_embed", { d.S, C }, { dims = "S, C", dtype = "f32" })
  P:op("pos_embed_2d", "pos_embed", {
    out = { buf = "pos_embed" }, Hp = d.Hp, Wp = d.Wp, C = C,
    scale = fp.f32(scale), mul_h = fp.f32(base / d.Hp), mul_w = fp.f32(base / d.Wp),
  }, {}, { "pos_embed" })

  local need_rope = false
  for _, b in ipairs(v.blocks) do need_rope = need_rope or b.rope end
  if need_rope then
    P:weight("rope.freqs", { d.D // 2 })
    P:buffer("rope.cos", { d.T, d.D }, { dims = "T, D", dtype = "f32" })
    P:buffer("rope.sin", { d.T, d.D }, { dims = "T, D", dtype = "f32" })
    P:op("rope_table", "rope", {
      cos_t = { buf = "rope.cos" }, sin_t = { buf = "rope.sin" }, freqs = { w = "rope.freqs" },
      T = d.T, D = d.D, bf16 = (v.dtype == "bf16") and 1 or 0,
    }, {}, { "rope.cos", "rope.sin" })
    v.rope.temporal = { cos = "rope.cos", sin = "rope.sin", half = 0 } -- interleaved pairs
  end

  P:buffer("fps.in", { B }, { dims = "B", dtype = "f32" })
  P:op("fill", "fps.in", { out = { buf = "fps.in" }, n = B, value = R(v.fps) }, {}, { "fps.in" })
  layers.timestep_embedder(P, "fps_embedder", "fps.in", B, C, { dump = "fps_embedder" })

  P:weight("y_embedder.y_embedding", { L, d.Cc })
  layers.caption(P, v, "y_embedder.y_proj", { "fc1", "fc2" }, "y_embedder", { w = "y_embedder.y_embedding" })

  -- ---- step: every sampler step ---------------------------------------------------------------
  P:set_phase("step")
  layers.timestep_embedder(P, "t_embedder", "in.t", B, C, { dump = "t_embedder" })
  P:buffer("t", { B, C }, { dims = "B, C" })
  P:op("add", "t", { out = { buf = "t" }, a = { buf = "t_embedder" }, b = { buf = "fps_embedder" }, n = B * C },
    { "t_embedder", "fps_embedder" }, { "t" })
  P:buffer("t.act", { B, C }, { dims = "B, C" })
  P:op("silu", "t.act", { out = { buf = "t.act" }, src = { buf = "t" }, n = B * C }, { "t" }, { "t.act" })
  P:buffer("t_block", { B, 6 * C }, { dims = "B, 6C" })
  layers.linear(P, "t_block.1", "t.act", "t_block", B, C, 6 * C, { dump = "t_block" })

  -- the residual stream: this rank's frames (all of them when sp = 1)
  P:buffer("x", { B, d.Nl, C }, { dims = d.sp > 1 and "B, T/P * S, C" or "B, N, C" })
  local wname = P:weight("x_embedder.proj.weight", { C, d.Cin, d.pt, d.ph, d.pw })
  local bname = P:weight("x_embedder.proj.bias", { C })
  P:op("patch_embed3d", "x_embedder", {
    out = { buf = "x" }, src = { buf = "in.x" }, w = { w = wname }, b = { w = bname },
    B = B, Cin = d.Cin, Tx = d.Tx, Hx = d.Hx, Wx = d.Wx, pt = d.pt, ph = d.ph, pw = d.pw, C = C,
    t0 = layers.first_frame(d), Tn = d.Tl,
  }, { "in.x" }, { "x" }, { dump = "x_embedder" })
  P:op("add_pos", "x.pos", { x = { buf = "x" }, pe = { buf = "pos_embed" }, BT = B * d.Tl, S = d.S, C = C },
    { "x", "pos_embed" }, { "x" })

  for depth = 0, d.depth - 1 do
    for _, blk in ipairs(v.blocks) do
      local prefix = string.format("%s.%d", blk.prefix, depth)
      layers.block(P, v, prefix, blk, depth)
    end
  end

  layers.final_layer(P, v, "t", "final_layer.scale_shift_table", "final_layer.norm_final", "final_layer.linear",
    "final_layer")

  P.inputs = { -- the --cond file: T5 output and its mask (docs/upstream.md#open-sora-12-text)
    { name = "y", role = "DITC_IN_TEXT", half = 0, optional = 0, buf = "in.y" },
    { name = "mask", role = "DITC_IN_MASK", half = 0, optional = 0, buf = "in.mask" },
  }
  P.fwd = { x = "x", t = "timestep", text = "y", mask = "mask" } -- names in a forward fixture
  return P
end

return M
