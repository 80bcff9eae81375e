-- stdit3.lua: the STDiT3 (Open-Sora 1.2) forward pass as an op program (docs/upstream.md#open-sora-12-forward):
-- embeddings and caption path once per generation, then per step the timestep conditioning,
-- patch embedding, the interleaved spatial/temporal blocks described by the model file, the final
-- layer and unpatchify. Sub-layers come from dit_layers.lua; this file only composes them.
-- Not here: numerics of single ops (runtime), schedules (rflow.lua, pab.lua), memory (plan.lua).
local fp = require("fp")
local Program = require("program")
local dit = require("dit")
local dit_layers = require("dit_layers")
local nn = require("nn")
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
  d.Fo = d.pt * d.ph * d.pw * d.Cout -- final layer output features per token
  d.loc = dit_layers.shard_dims(d, v.sp)
  return d
end

-- ---- op program --------------------------------------------------------------------------------

function M.build(variant)
  local d = variant.dims
  local v = setmetatable({ t6 = "t_block", text_lens = "y.lens", rope = {}, loc = d.loc }, { __index = variant })
  local P = dit.program(variant)
  local R = fp.rounder(v.dtype)
  local B, C, L = d.B, d.C, d.L

  dit.io(P, d)

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
  P:op("fill", "fps.in", { out = { buf = "fps.in" }, n = P:dim("B"), value = R(v.fps) }, {}, { "fps.in" })
  nn.timestep_embedder(P, "fps_embedder", "fps.in", P:dim("B"), P:dim("C"), { dump = "fps_embedder" })

  P:weight("y_embedder.y_embedding", { L, d.Cc })
  dit_layers.caption(P, v, "y_embedder.y_proj", { "fc1", "fc2" }, "y_embedder", { w = "y_embedder.y_embedding" })

  -- ---- step: every sampler step ---------------------------------------------------------------
  P:set_phase("step")
  nn.timestep_embedder(P, "t_embedder", "in.t", P:dim("B"), P:dim("C"), { dump = "t_embedder" })
  P:buffer("t", { B, C }, { dims = "B, C" })
  P:op("add", "t", { out = { buf = "t" }, a = { buf = "t_embedder" }, b = { buf = "fps_embedder" }, n = P:dim("B * C") },
    { "t_embedder", "fps_embedder" }, { "t" })
  dit.t_block(P, "t", "t_block.1", "t_block")

  dit.embed(P, d, "x_embedder.proj", { C, d.Cin, d.pt, d.ph, d.pw }, d.pt, "pos_embed",
    { embed = "x_embedder", embed_dump = "x_embedder", pos = "x.pos" })
  dit.blocks(P, v)

  dit_layers.final_layer(P, v, "t", "final_layer.scale_shift_table", "final_layer.norm_final", "final_layer.linear",
    "final_layer")

  P.inputs = { -- the --cond file: T5 output and its mask (docs/upstream.md#open-sora-12-text)
    { name = "y", role = "DITC_IN_TEXT", half = 0, optional = 0, buf = "in.y" },
    { name = "mask", role = "DITC_IN_MASK", half = 0, optional = 0, buf = "in.mask" },
  }
  P.fwd = { x = "x", t = "timestep", text = "y", mask = "mask" } -- names in a forward fixture
  return P
end

return M
