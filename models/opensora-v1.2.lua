-- models/opensora-v1.2.lua: Open-Sora 1.2 (class STDiT3, hpcai-tech/OpenSora-STDiT-v3) as data:
-- architecture defaults, checkpoint structure, sampler, default PAB config and named variants.
-- Not code: gen/ reads and validates this table (docs/upstream.md#open-sora-12).
-- STDiT3Block sub-layers in execution order, shared by spatial and temporal blocks; `mod` gives
-- the rows of scale_shift_table [6, C] (shift, scale, gate) each sub-layer uses.
local stdit3_block = {
  { layer = "self_attention", name = "attn", pab = "attn", norm_eps = 1e-6, mod = { 0, 1, 2 },
    qkv = "qkv", q_norm = "q_norm", k_norm = "k_norm", qk_norm_eps = 1e-6, proj = "proj" },
  { layer = "cross_attention", name = "cross_attn", pab = "cross", q = "q_linear", kv = "kv_linear", proj = "proj" },
  { layer = "mlp", name = "mlp", pab = "mlp", norm_eps = 1e-6, mod = { 3, 4, 5 }, fc1 = "fc1", fc2 = "fc2", act = "gelu_tanh" },
}

return {
  family = "opensora-v1.2",
  class = "STDiT3",
  symbol = "os12", -- prefix of generated C symbols

  -- hpcai-tech/OpenSora-STDiT-v3 config.json (docs/upstream.md#open-sora-12-config). A config.json may override these.
  config = {
    depth = 28,
    hidden_size = 1152,
    num_heads = 16,
    mlp_ratio = 4.0,
    patch_size = { 1, 2, 2 },
    in_channels = 4,
    pred_sigma = true,
    caption_channels = 4096,
    model_max_length = 300,
    qk_norm = true,
    input_sq_size = 512,
  },

  -- The attention cache kinds PAB keeps, in the order schedule.txt lists them: one record each
  -- in `pab` below (upstream's <kind>_broadcast/_threshold/_range in a --pab JSON). A block's
  -- `pab` names its self-attention's kind, a cross-attention layer's `pab` its own; each
  -- declared kind is used by some module (a family without temporal attention declares none).
  cache_kinds = { "spatial", "temporal", "cross" },

  -- Module structure, with checkpoint names exactly as upstream (docs/upstream.md#open-sora-12-checkpoint). Blocks run
  -- interleaved per depth in this order; `axis` is the self-attention axis, `pab` the cache
  -- kind of the block's self-attention (and the block kind MLP broadcast is keyed by), `layers`
  -- its sub-layers.
  blocks = {
    { prefix = "spatial_blocks", axis = "spatial", pab = "spatial", rope = false, layers = stdit3_block },
    { prefix = "temporal_blocks", axis = "temporal", pab = "temporal", rope = true, layers = stdit3_block },
  },

  -- RFLOW (docs/upstream.md#open-sora-12-rflow): rectified flow with the resolution/length timestep transform.
  sampler = {
    kind = "rflow",
    steps = 30,
    num_timesteps = 1000,
    use_timestep_transform = true,
    transform_scale = 1.0,
    cfg_scale = 7.0,
    cfg_order = "cond_first",
  },

  -- The pipeline dtype: it rounds the size tensors of the timestep transform, the timesteps PAB
  -- sees, the pos-embed scale and the RoPE angles (docs/upstream.md#open-sora-12-timesteps).
  dtype = "bf16",
  fps = 24,
  -- OpenSoraVAE_V1_2: 8x spatial; 17-frame micro-batches of 5 latent frames (docs/upstream.md#latent-sizes)
  vae = { spatial = 8, temporal = "opensora" },

  -- The pipeline around the transformer (VideoSys' OpenSoraPipeline; docs/upstream.md#vae and
  -- #t5): its text encoder and VAE descriptions, the released repositories' folders under a
  -- model directory, the tokenizer and cleaning, each part's dtype, the video's fps, and whether
  -- the phases' weights stay resident or are loaded at each phase's start (reload: the released
  -- 480p pipeline then fits a 24 GB GPU).
  pipeline = {
    text_encoder = { model = "models/t5-v1.1.lua", folder = "DeepFloyd/t5-v1_1-xxl", tokenizer = "fast",
      clean = "opensora-v1.2", dtype = "bf16" },
    transformer = { folder = "hpcai-tech/OpenSora-STDiT-v3" },
    vae = { model = "models/vae-opensora-v1.2.lua", folder = "hpcai-tech/OpenSora-VAE-v1.2", dtype = "bf16" },
    fps = 24,
    weights = "reload",
  },

  -- OpenSoraPABConfig() (docs/upstream.md#open-sora-12-pab): a record per cache kind, then MLP broadcast keyed by
  -- block kind. MLP dicts are ordered lists: upstream's first-match rule follows dict insertion order.
  pab = {
    spatial = { broadcast = true, threshold = { 450, 930 }, range = 2 },
    temporal = { broadcast = true, threshold = { 450, 930 }, range = 4 },
    cross = { broadcast = true, threshold = { 450, 930 }, range = 6 },
    mlp_broadcast = true,
    mlp_spatial = {
      { key = 676, blocks = { 0, 1, 2, 3, 4 }, skip_count = 2 },
      { key = 788, blocks = { 0, 1, 2, 3, 4 }, skip_count = 2 },
      { key = 864, blocks = { 0, 1, 2, 3, 4 }, skip_count = 2 },
    },
    mlp_temporal = {
      { key = 676, blocks = { 0, 1, 2, 3, 4 }, skip_count = 2 },
      { key = 788, blocks = { 0, 1, 2, 3, 4 }, skip_count = 2 },
      { key = 864, blocks = { 0, 1, 2, 3, 4 }, skip_count = 2 },
    },
  },

  -- Named variants. Pixel sizes are the pipeline's (they enter the timestep transform and the
  -- pos-embed scale); the latent defaults to the VAE rule (8x spatial, 17 frames -> 5).
  variants = {
    ["480p-9x16-51f"] = { height = 480, width = 854, num_frames = 51 },
    ["480p-9x16-102f"] = { height = 480, width = 854, num_frames = 102 },
    -- the PAB paper's 8-GPU setting: sequence parallelism over 8 ranks (docs/upstream.md#dsp)
    ["480p-9x16-51f-sp8"] = { height = 480, width = 854, num_frames = 51, sp = 8 },

    -- The golden fixture's tiny model (tests/golden/opensora-v1.2), run in fp32 like the fixture.
    fixture = {
      config = { depth = 2, hidden_size = 96, num_heads = 4, caption_channels = 32, model_max_length = 12 },
      height = 64, width = 96, num_frames = 17,
      dtype = "fp32",
    },
    -- The fixture's sample_pab_aggressive config (golden meta.json).
    ["fixture-aggressive"] = {
      config = { depth = 2, hidden_size = 96, num_heads = 4, caption_channels = 32, model_max_length = 12 },
      height = 64, width = 96, num_frames = 17,
      dtype = "fp32",
      pab = {
        spatial = { broadcast = true, threshold = { 100, 990 }, range = 3 },
        temporal = { broadcast = true, threshold = { 100, 990 }, range = 3 },
        cross = { broadcast = true, threshold = { 100, 990 }, range = 4 },
        mlp_broadcast = true,
        mlp_spatial = {
          { key = 577, blocks = { 0, 1 }, skip_count = 2 },
          { key = 281, blocks = { 1 }, skip_count = 2 },
        },
        mlp_temporal = {
          { key = 444, blocks = { 0 }, skip_count = 2 },
          { key = 146, blocks = { 0, 1 }, skip_count = 1 },
        },
      },
    },
    -- The demo's and the bench's model: the fixture's config (so its weights and caption load) at
    -- a latent of 5x20x28 (140 tokens a frame), where attention is a larger share of the step and
    -- PAB skips 15.5% of the FLOPs (8.4% at the fixture's size): clear of a small machine's noise.
    ["cpu-demo"] = {
      config = { depth = 2, hidden_size = 96, num_heads = 4, caption_channels = 32, model_max_length = 12 },
      height = 160, width = 224, num_frames = 17,
      dtype = "fp32",
    },
    -- A CPU-sized model for benchmarks (random weights): 2 layers, 192 wide, 5x16x24 latent.
    ["cpu-bench"] = {
      config = { depth = 2, hidden_size = 192, num_heads = 4, caption_channels = 128, model_max_length = 32 },
      height = 128, width = 192, num_frames = 17,
      dtype = "fp32",
    },
    -- The GEMM-heavy one beside it (ninja bench: ditc and PyTorch on the CPU): twice as wide, 6
    -- heads of 64; its generated C is built, not committed (.gitignore).
    ["cpu-large"] = {
      config = { depth = 2, hidden_size = 384, num_heads = 6, caption_channels = 128, model_max_length = 32 },
      height = 128, width = 192, num_frames = 17,
      dtype = "fp32",
    },
  },
}
