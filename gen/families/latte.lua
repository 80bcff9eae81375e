-- latte.lua: the LatteT2V class (Latte-1 as diffusers' LatteTransformer3DModel, and the
-- Open-Sora-Plan v1.1.0 variant of it; docs/upstream.md#latte-1) as an op program: per generation the
-- 2-D and temporal sin-cos tables, optional RoPE tables and the caption path; per step the
-- adaLN-single timestep embedding, the per-frame patch embedding, spatial and temporal blocks
-- from the model description with the temporal embedding added once before temporal block 0,
-- the final layer and unpatchify. Sub-layers come from dit_layers.lua.
-- Not here: samplers (ddim.lua, pndm.lua) or op numerics (runtime).
local fp = require("fp")
local Program = require("program")
local dit = require("dit")
local dit_layers = require("dit_layers")
local nn = require("nn")
local S = require("schema")

local M = {}

-- ---- configuration (diffusers transformer/config.json names) ----------------------------------

local function sample_size(v, path, fail)
  if type(v) == "number" then return S.int { min = 1, max = 65536 }(v, path, fail) end
  S.list(S.int { min = 1, max = 65536 }, { len = 2 })(v, path, fail)
end

M.class_names = { "LatteT2V", "LatteTransformer3DModel" }
M.config_fields = {
  num_attention_heads = S.int { min = 1, max = 1024 },
  attention_head_dim = S.int { min = 2, max = 1024 },
  in_channels = S.int { min = 1, max = 4096 },
  out_channels = S.int { min = 1, max = 8192 },
  num_layers = S.int { min = 1, max = 256 },
  cross_attention_dim = S.int { min = 1, max = 65536 },
  attention_bias = S.bool(),
  sample_size = sample_size,
  patch_size = S.int { min = 1, max = 64 },
  patch_size_t = S.int { min = 1, max = 64 },
  activation_fn = S.str(),
  num_embeds_ada_norm = S.int { min = 1, max = 1000000 },
  norm_type = S.str(),
  norm_elementwise_affine = S.bool(),
  norm_eps = S.num { gt = 0, lt = 1 },
  caption_channels = S.int { min = 1, max = 65536 },
  video_length = S.int { min = 1, max = 65536 },
  use_rope = S.bool(),
  rope_scaling_type = S.str(),
  interpolation_scale_1d = S.num { min = 0.001, max = 65536 },
  compress_kv_factor = S.int { min = 1, max = 64 },
  model_max_length = S.int { min = 1, max = 65536 },
  attention_mode = S.str(),
}
M.config_required = { "attention_bias", "attention_head_dim", "caption_channels", "cross_attention_dim",
  "in_channels", "norm_eps", "num_attention_heads", "num_layers", "out_channels", "patch_size", "sample_size",
  "video_length" }
-- config.json fields with no effect on inference at these settings: ignored with a note
M.config_json_ignored = {
  dropout = true, norm_num_groups = true, num_vector_embeds = true, use_linear_projection = true,
  only_cross_attention = true, double_self_attention = true, upcast_attention = true, attention_type = true,
  enable_sequence_parallelism = true,
}
-- metadata of the export: skipped silently (_class_name is checked)
M.config_json_metadata = { torch_dtype = true }

-- Settings the math below implements; anything else is refused rather than silently ignored.
function M.check_config(c, fail)
  local function need(k, want)
    if c[k] ~= nil and c[k] ~= want then
      fail(k, string.format("%s is not supported (ditc implements %s)", S.describe(c[k]), S.describe(want)))
    end
  end
  need("attention_bias", true)
  need("activation_fn", "gelu-approximate")
  need("norm_type", "ada_norm_single")
  need("norm_elementwise_affine", false)
  need("patch_size_t", 1)
  need("compress_kv_factor", 1)
  if c.use_rope then need("rope_scaling_type", "linear") end
end

function M.dims(v, fail)
  local c = v.config
  local C = c.num_attention_heads * c.attention_head_dim
  if c.cross_attention_dim ~= C then
    fail({ "config", "cross_attention_dim" }, string.format("must equal heads * head dim (%d)", C))
  end
  if C % 4 ~= 0 then fail({ "config", "attention_head_dim" }, "heads * head dim must be divisible by 4 (2-D sin-cos)") end
  if c.use_rope and c.attention_head_dim % 4 ~= 0 then
    fail({ "config", "attention_head_dim" }, "must be divisible by 4 with use_rope (2-D RoPE halves)")
  end
  if c.out_channels ~= c.in_channels and c.out_channels ~= 2 * c.in_channels then
    fail({ "config", "out_channels" }, "must be in_channels or 2 * in_channels (learned sigma)")
  end
  local p = c.patch_size
  local ss = type(c.sample_size) == "table" and c.sample_size[1] or c.sample_size
  if ss < p then fail({ "config", "sample_size" }, string.format("%d is below patch_size %d (PatchEmbed's base size "
    .. "sample_size // patch_size would be 0)", ss, p)) end
  local Tx, Hx, Wx = v.latent[1], v.latent[2], v.latent[3]
  if Hx % p ~= 0 or Wx % p ~= 0 then
    fail({ "config", "patch_size" }, string.format("%d does not divide the latent %dx%d", p, Hx, Wx))
  end
  if Tx ~= c.video_length then
    fail({ "config", "video_length" }, string.format("is %d but the latent has %d frames (the temporal "
      .. "embedding is a fixed table of video_length rows)", c.video_length, Tx))
  end
  if not v.text_len then fail({ "text_len" }, "LatteT2V needs a text length (text_len)") end
  local d = {
    Bp = v.batch, B = (v.cfg_parallel and 1 or 2) * v.batch, cfgp = v.cfg_parallel and 2 or 1,
    Cin = c.in_channels, Cout = c.out_channels, Tx = Tx, Hx = Hx, Wx = Wx,
    pt = 1, ph = p, pw = p, C = C, H = c.num_attention_heads, D = c.attention_head_dim, F = 4 * C,
    L = v.text_len, Cc = c.caption_channels, depth = c.num_layers,
  }
  d.T, d.Hp, d.Wp = Tx, Hx // p, Wx // p
  d.S = d.Hp * d.Wp
  d.N = d.T * d.S
  d.Fo = p * p * d.Cout
  d.loc = dit_layers.shard_dims(d, v.sp)
  return d
end

-- ---- op program --------------------------------------------------------------------------------

-- Positions of the temporal sin-cos table: Latte-1 uses the frame index; Open-Sora-Plan v1.1
-- divides by interpolation_scale_1d (default max(1, video_length // 16), odd lengths minus one).
local function temporal_scale(c)
  if c.interpolation_scale_1d then return c.interpolation_scale_1d end
  local vl = c.video_length
  return math.max(1, (vl % 2 == 1) and (vl - 1) // 16 or vl // 16)
end

function M.build(variant)
  local d = variant.dims
  local P = dit.program(variant)
  local v = setmetatable({ t6 = "adaln_single.0", text_lens = "y.lens", rope = {}, loc = d.loc }, { __index = variant })
  local c = v.config
  local B, C = d.B, d.C

  dit.io(P, d, { negative = true })

  -- ---- prologue --------------------------------------------------------------------------------
  P:set_phase("prologue")
  local ss = type(c.sample_size) == "table" and c.sample_size[1] or c.sample_size
  local base = ss // c.patch_size                    -- PatchEmbed base_size
  local interp2d = math.max(ss // 64, 1)             -- interpolation_scale (64 latent = 512 px)
  P:buffer("pos_embed.table", { d.S, C }, { dims = "S, C", dtype = "f32" })
  P:op("pos_embed_2d_f64", "pos_embed.table", {
    out = { buf = "pos_embed.table" }, Hp = d.Hp, Wp = d.Wp, C = C,
    div_h = fp.f32(d.Hp / base), div_w = fp.f32(d.Wp / base), interp = interp2d,
  }, {}, { "pos_embed.table" })
  local scale1d = temporal_scale(c)
  if d.T > 1 then
    P:buffer("temp_pos_embed", { d.T, C }, { dims = "T, C", dtype = "f32" })
    P:op("pos_embed_1d_f64", "temp_pos_embed", {
      out = { buf = "temp_pos_embed" }, T = d.T, C = C, div = (v.temporal_pos == "osp") and scale1d or 0,
    }, {}, { "temp_pos_embed" })
  end
  if c.use_rope then -- docs/upstream.md#open-sora-plan-forward: 2-D split-half RoPE over [y | x] halves; 1-D over frames
    P:buffer("rope2d.cos", { d.S, d.D }, { dims = "S, D", dtype = "f32" })
    P:buffer("rope2d.sin", { d.S, d.D }, { dims = "S, D", dtype = "f32" })
    P:op("rope_table_neox", "rope2d", {
      cos_t = { buf = "rope2d.cos" }, sin_t = { buf = "rope2d.sin" }, rows = P:dim("S"), Wp = P:dim("Wp"), D = d.D, nsec = 2, div = interp2d,
    }, {}, { "rope2d.cos", "rope2d.sin" })
    P:buffer("rope1d.cos", { d.T, d.D }, { dims = "T, D", dtype = "f32" })
    P:buffer("rope1d.sin", { d.T, d.D }, { dims = "T, D", dtype = "f32" })
    P:op("rope_table_neox", "rope1d", {
      cos_t = { buf = "rope1d.cos" }, sin_t = { buf = "rope1d.sin" }, rows = P:dim("T"), Wp = 1, D = d.D, nsec = 1, div = scale1d,
    }, {}, { "rope1d.cos", "rope1d.sin" })
    v.rope.spatial = { cos = "rope2d.cos", sin = "rope2d.sin", half = P:dim("D // 4") }
    v.rope.temporal = { cos = "rope1d.cos", sin = "rope1d.sin", half = P:dim("D // 2") }
  end

  -- caption: [uncond; cond] text -> caption_projection -> valid tokens per sample
  dit_layers.caption(P, v, "caption_projection", { "linear_1", "linear_2" }, "caption_projection", { buf = "in.y_neg" })

  -- ---- step --------------------------------------------------------------------------------------
  P:set_phase("step")
  nn.timestep_embedder(P, "adaln_single.emb.timestep_embedder", "in.t", P:dim("B"), P:dim("C"),
    { names = { "linear_1", "linear_2" }, out = "adaln_single.1", dump = "adaln_single.1" })
  dit.t_block(P, "adaln_single.1", "adaln_single.linear", "adaln_single.0")

  dit.embed(P, d, "pos_embed.proj", { C, d.Cin, d.ph, d.pw }, 1, "pos_embed.table",
    { embed = "pos_embed.proj", pos = "pos_embed", pos_dump = "pos_embed" })
  dit.blocks(P, v, function(blk, depth)
    if blk.axis == "temporal" and depth == 0 and d.T > 1 then -- once, before temporal block 0
      local x = P.residual
      P:op("add_frame_pos", "temp_pos_embed.add", { x = { buf = x }, tp = { buf = "temp_pos_embed" },
        B = B, T = P:dim("Tl"), S = d.S, C = C, t0 = dit_layers.first_frame(d), Tg = P:dim("T") }, { x, "temp_pos_embed" }, { x })
    end
  end)

  dit_layers.final_layer(P, v, "adaln_single.1", "scale_shift_table", "norm_out", "proj_out", "proj_out")

  P.inputs = { -- prompt and negative-prompt T5 outputs, optionally with their mask (docs/upstream.md#latte-1-text)
    { name = "prompt_embeds", role = "DITC_IN_TEXT", half = 0, optional = 0, buf = "in.y" },
    { name = "negative_prompt_embeds", role = "DITC_IN_TEXT", half = 1, optional = 0, buf = "in.y_neg" },
    { name = "mask", role = "DITC_IN_MASK", half = 0, optional = 1, buf = "in.mask" },
  }
  -- names in a forward fixture; upstream's fixtures hold no mask (every token valid), ditc's own may
  -- (tests/cond_test.sh: the prompt's mask over a fixed text length)
  P.fwd = { x = "hidden_states", t = "timestep", text = "encoder_hidden_states", mask = "mask" }
  return P
end

return M
