-- models/latte.lua: Latte-1 (maxin-cn/Latte-1, diffusers LatteTransformer3DModel; class LatteT2V)
-- as data: architecture defaults, checkpoint structure, DDIM sampler, default PAB config and
-- named variants. Not code: gen/ reads and validates this table (docs/upstream.md#latte-1).

-- Sub-layers with diffusers' module names; `mod` gives the rows of scale_shift_table [6, C].
local attn1 = { layer = "self_attention", name = "attn1", pab = "attn", norm_eps = 1e-6, mod = { 0, 1, 2 },
  q = "to_q", k = "to_k", v = "to_v", proj = "to_out.0" }
local attn2 = { layer = "cross_attention", name = "attn2", pab = "cross", q = "to_q", k = "to_k", v = "to_v",
  proj = "to_out.0" }
local ff = { layer = "mlp", name = "ff", pab = "mlp", norm_eps = 1e-6, mod = { 3, 4, 5 },
  fc1 = "net.0.proj", fc2 = "net.2", act = "gelu_tanh" }

-- LattePABConfig() (docs/upstream.md#latte-1-pab): MLP broadcast keyed by block kind
local function mlp_keys(keys, blocks)
  local out = {}
  for i, k in ipairs(keys) do out[i] = { key = k, blocks = blocks, skip_count = 2 } end
  return out
end

return {
  family = "latte",
  class = "LatteT2V",
  symbol = "latte",

  -- maxin-cn/Latte-1 transformer/config.json (docs/upstream.md#latte-1-config), plus video_length 16
  config = {
    num_attention_heads = 16, attention_head_dim = 72, in_channels = 4, out_channels = 8, num_layers = 28,
    cross_attention_dim = 1152, attention_bias = true, sample_size = 64, patch_size = 2,
    activation_fn = "gelu-approximate", num_embeds_ada_norm = 1000, norm_type = "ada_norm_single",
    norm_elementwise_affine = false, norm_eps = 1e-6, caption_channels = 4096, video_length = 16,
    use_rope = false,
  },

  -- The attention cache kinds PAB keeps (a record each in `pab`, a column each in schedule.txt);
  -- a block's `pab` names its self-attention's kind, attn2's `pab` its own.
  cache_kinds = { "spatial", "temporal", "cross" },

  -- spatial block i then temporal block i; the temporal blocks have no cross-attention
  blocks = {
    { prefix = "transformer_blocks", axis = "spatial", pab = "spatial", rope = false, layers = { attn1, attn2, ff } },
    { prefix = "temporal_transformer_blocks", axis = "temporal", pab = "temporal", rope = false, layers = { attn1, ff } },
  },
  temporal_pos = "latte", -- 1-D sin-cos of the frame index, added once before temporal block 0

  -- DDIMScheduler with LatteConfig's overrides (docs/upstream.md#latte-1-ddim)
  sampler = {
    kind = "ddim", steps = 50, num_train_timesteps = 1000, beta_start = 0.0001, beta_end = 0.02,
    beta_schedule = "linear", timestep_spacing = "leading", steps_offset = 0, set_alpha_to_one = true,
    eta = 0, cfg_scale = 7.5, cfg_order = "uncond_first",
  },
  dtype = "fp16",
  vae = { spatial = 8, temporal = "none" }, -- 8x spatial, frames kept (docs/upstream.md#latent-sizes)
  text_len = 120,                            -- T5 max_length; the mask marks the prompt's tokens

  -- The pipeline (VideoSys' LattePipeline; docs/upstream.md#vae and #t5): one repository,
  -- maxin-cn/Latte-1, with its parts in folders; T5 in fp16 (wo in fp32), the SVD VAE in fp16.
  pipeline = {
    text_encoder = { model = "models/t5-v1.1.lua", folder = "text_encoder", tokenizer_folder = "tokenizer",
      tokenizer = "slow", clean = "latte", dtype = "fp16" },
    transformer = { folder = "transformer" },
    vae = { model = "models/vae-latte.lua", folder = "vae_temporal_decoder", dtype = "fp16" },
    fps = 8,
    weights = "reload",
  },

  pab = {
    spatial = { broadcast = true, threshold = { 100, 800 }, range = 2 },
    temporal = { broadcast = true, threshold = { 100, 800 }, range = 3 },
    cross = { broadcast = true, threshold = { 100, 800 }, range = 6 },
    mlp_broadcast = true,
    mlp_spatial = mlp_keys({ 720, 640, 560, 480, 400 }, { 0, 1, 2, 3, 4 }),
    mlp_temporal = mlp_keys({ 720, 640, 560, 480, 400 }, { 0, 1, 2, 3, 4 }),
  },

  variants = {
    ["16x512x512"] = { height = 512, width = 512, num_frames = 16 },

    -- The golden fixture's tiny model (tests/golden/latte), fp32 like the fixture; 9 text tokens.
    fixture = {
      config = { num_attention_heads = 4, attention_head_dim = 16, num_layers = 2, cross_attention_dim = 64,
        sample_size = 8, caption_channels = 32, video_length = 4 },
      height = 64, width = 64, num_frames = 4, text_len = 9, dtype = "fp32",
    },
    -- The fixture's sample_pab_aggressive config (golden meta.json).
    ["fixture-aggressive"] = {
      config = { num_attention_heads = 4, attention_head_dim = 16, num_layers = 2, cross_attention_dim = 64,
        sample_size = 8, caption_channels = 32, video_length = 4 },
      height = 64, width = 64, num_frames = 4, text_len = 9, dtype = "fp32",
      pab = {
        spatial = { broadcast = true, threshold = { 50, 950 }, range = 3 },
        temporal = { broadcast = true, threshold = { 50, 950 }, range = 4 },
        cross = { broadcast = true, threshold = { 20, 990 }, range = 8 },
        mlp_broadcast = true,
        mlp_spatial = { { key = 900, blocks = { 0, 1 }, skip_count = 3 }, { key = 500, blocks = { 1 }, skip_count = 2 } },
        mlp_temporal = { { key = 860, blocks = { 0 }, skip_count = 2 }, { key = 300, blocks = { 0, 1 }, skip_count = 1 } },
      },
    },
    -- A CPU-sized model for benchmarks (ninja bench: ditc and PyTorch on the CPU, random weights):
    -- 2 layer pairs, 6 heads of 64, 8 frames of a 16x16 latent (64 tokens a frame), 32 text tokens;
    -- its generated C is built, not committed (.gitignore).
    ["cpu-bench"] = {
      config = { num_attention_heads = 6, attention_head_dim = 64, num_layers = 2, cross_attention_dim = 384,
        sample_size = 16, caption_channels = 128, video_length = 8 },
      height = 128, width = 128, num_frames = 8, text_len = 32, dtype = "fp32",
    },
  },
}
