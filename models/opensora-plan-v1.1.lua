-- models/opensora-plan-v1.1.lua: Open-Sora-Plan v1.1.0 (LanguageBind/Open-Sora-Plan-v1.1.0,
-- "LatteT2V-XL/122"; class LatteT2V) as data: Latte's structure with RoPE (spatial 2-D over
-- [y | x] halves, temporal 1-D, linear scaling), the scaled temporal embedding, PNDM with its
-- Runge-Kutta warm-up, and OpenSoraPlanV110PABConfig. Not code (docs/upstream.md#open-sora-plan-v110).

local attn1 = { layer = "self_attention", name = "attn1", pab = "attn", norm_eps = 1e-6, mod = { 0, 1, 2 },
  q = "to_q", k = "to_k", v = "to_v", proj = "to_out.0" }
local attn2 = { layer = "cross_attention", name = "attn2", pab = "cross", q = "to_q", k = "to_k", v = "to_v",
  proj = "to_out.0" }
local ff = { layer = "mlp", name = "ff", pab = "mlp", norm_eps = 1e-6, mod = { 3, 4, 5 },
  fc1 = "net.0.proj", fc2 = "net.2", act = "gelu_tanh" }

-- OpenSoraPlanV110PABConfig(): MLP keys 738, 714, ..., 426 (24 apart), blocks 0-6 (docs/upstream.md#open-sora-plan-pab)
local function v110_mlp()
  local out = {}
  for k = 738, 426, -24 do out[#out + 1] = { key = k, blocks = { 0, 1, 2, 3, 4, 5, 6 }, skip_count = 2 } end
  return out
end

return {
  family = "opensora-plan-v1.1",
  class = "LatteT2V",
  symbol = "osp11",

  -- LatteT2V_XL_122 (docs/upstream.md#open-sora-plan-config; the released config.json is UNVERIFIED upstream: use_rope true is
  -- the fixtures' reading of the release, see golden/README.md)
  config = {
    num_attention_heads = 16, attention_head_dim = 72, in_channels = 4, out_channels = 8, num_layers = 28,
    cross_attention_dim = 1152, attention_bias = true, sample_size = { 64, 64 }, patch_size = 2, patch_size_t = 1,
    activation_fn = "gelu-approximate", num_embeds_ada_norm = 1000, norm_type = "ada_norm_single",
    norm_elementwise_affine = false, norm_eps = 1e-6, caption_channels = 4096, video_length = 17,
    use_rope = true, rope_scaling_type = "linear", compress_kv_factor = 1, model_max_length = 300,
  },

  -- The attention cache kinds PAB keeps (a record each in `pab`, a column each in schedule.txt);
  -- a block's `pab` names its self-attention's kind, attn2's `pab` its own.
  cache_kinds = { "spatial", "temporal", "cross" },

  blocks = {
    { prefix = "transformer_blocks", axis = "spatial", pab = "spatial", rope = true, layers = { attn1, attn2, ff } },
    { prefix = "temporal_transformer_blocks", axis = "temporal", pab = "temporal", rope = true, layers = { attn1, ff } },
  },
  temporal_pos = "osp", -- positions / interpolation_scale_1d (default max(1, video_length // 16))
  -- in the checkpoint, unused by inference (CaptionProjection's null caption buffer)
  extra_weights = { { name = "caption_projection.y_embedding", shape = { 120, "caption_channels" } } },

  -- PNDMScheduler() defaults: 150 steps = 159 model calls; PAB counters wrap at 150 (docs/upstream.md#open-sora-plan-pndm)
  sampler = {
    kind = "pndm", steps = 150, num_train_timesteps = 1000, beta_start = 0.0001, beta_end = 0.02,
    beta_schedule = "linear", timestep_spacing = "leading", steps_offset = 0, set_alpha_to_one = false,
    skip_prk_steps = false, cfg_scale = 7.5, cfg_order = "uncond_first",
  },
  dtype = "fp16",
  vae = { spatial = 8, temporal = "causal4" }, -- CausalVAEModel_4x8x8: 65 frames -> 17
  text_len = 300,

  -- The pipeline (VideoSys' OpenSoraPlanPipeline; docs/upstream.md#vae and #t5):
  -- LanguageBind/Open-Sora-Plan-v1.1.0 (the transformer of a size's folder, vae/) and
  -- DeepFloyd/t5-v1_1-xxl; T5 in fp16 (wo in fp32), the causal VAE in fp16, tiled.
  pipeline = {
    text_encoder = { model = "models/t5-v1.1.lua", folder = "DeepFloyd/t5-v1_1-xxl", tokenizer = "slow",
      clean = "opensora-plan-v1.1", dtype = "fp16" },
    transformer = { folder = "LanguageBind/Open-Sora-Plan-v1.1.0/65x512x512" },
    vae = { model = "models/vae-opensora-plan-v1.1.lua", folder = "LanguageBind/Open-Sora-Plan-v1.1.0/vae", dtype = "fp16" },
    fps = 24,
    weights = "reload",
  },

  pab = {
    spatial = { broadcast = true, threshold = { 100, 850 }, range = 2 },
    temporal = { broadcast = true, threshold = { 100, 850 }, range = 4 },
    cross = { broadcast = true, threshold = { 100, 850 }, range = 6 },
    mlp_broadcast = true,
    mlp_spatial = v110_mlp(),
    mlp_temporal = v110_mlp(),
  },

  variants = {
    ["65x512x512"] = { height = 512, width = 512, num_frames = 65 },

    -- The golden fixture's tiny model (tests/golden/opensora-plan-v1.1), fp32; 10 text tokens.
    fixture = {
      config = { num_attention_heads = 4, attention_head_dim = 16, num_layers = 2, cross_attention_dim = 64,
        sample_size = { 8, 8 }, caption_channels = 32, video_length = 5 },
      height = 64, width = 64, num_frames = 17, text_len = 10, dtype = "fp32",
    },
    ["fixture-aggressive"] = {
      config = { num_attention_heads = 4, attention_head_dim = 16, num_layers = 2, cross_attention_dim = 64,
        sample_size = { 8, 8 }, caption_channels = 32, video_length = 5 },
      height = 64, width = 64, num_frames = 17, text_len = 10, dtype = "fp32",
      pab = {
        spatial = { broadcast = true, threshold = { 50, 950 }, range = 3 },
        temporal = { broadcast = true, threshold = { 50, 950 }, range = 3 },
        cross = { broadcast = true, threshold = { 20, 990 }, range = 8 },
        mlp_broadcast = true,
        mlp_spatial = { { key = 852, blocks = { 0, 1 }, skip_count = 3 }, { key = 498, blocks = { 1 }, skip_count = 2 } },
        mlp_temporal = { { key = 846, blocks = { 0 }, skip_count = 2 }, { key = 300, blocks = { 0, 1 }, skip_count = 1 } },
      },
    },
  },
}
