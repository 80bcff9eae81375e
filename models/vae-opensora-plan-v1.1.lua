-- models/vae-opensora-plan-v1.1.lua: Open-Sora-Plan v1.1's video VAE decoder (class CausalVAEModel,
-- gen/families/vae_osp.lua) as data: LanguageBind/Open-Sora-Plan-v1.1.0's vae config (the 4x8x8
-- causal VAE), checkpoint names exactly as upstream's (docs/upstream.md#vae), the pipeline's tile
-- sizes, and named variants. Not code: gen/ reads and validates this table. A variant may also
-- come from a config.json: lua5.4 gen/main.lua --model models/vae-opensora-plan-v1.1.lua --config
-- config.json --name NAME --latent C,T,H,W [--tiling off|SAMPLE,LATENT,SAMPLE_T,LATENT_T,OVERLAP] --out DIR.
return {
  family = "vae-opensora-plan-v1.1",
  class = "CausalVAEModel",
  symbol = "vae_osp11",
  dtype = "fp16", -- the pipeline casts the VAE to fp16

  config = {
    hidden_size = 128,
    hidden_size_mult = { 1, 2, 4, 4 },
    num_res_blocks = 2,
    z_channels = 4,
    embed_dim = 4,
    attn_resolutions = {},
    decoder_conv_in = "CausalConv3d",
    decoder_conv_out = "CausalConv3d",
    decoder_attention = "AttnBlock3DFix",
    decoder_mid_resnet = "ResnetBlock3D",
    decoder_resnet_blocks = { "ResnetBlock3D", "ResnetBlock3D", "ResnetBlock3D", "ResnetBlock3D" },
    decoder_spatial_upsample = { "", "SpatialUpsample2x", "SpatialUpsample2x", "SpatialUpsample2x" },
    decoder_temporal_upsample = { "", "", "TimeUpsampleRes2x", "TimeUpsampleRes2x" },
    q_conv = "CausalConv3d",
  },

  variants = {
    -- the released 65 x 512 x 512 pipeline: latent 17 x 64 x 64, the pipeline's tiles (3 temporal chunks x 2 x 2)
    ["65x512x512"] = { latent = { 4, 17, 64, 64 } },
    -- the golden fixture's tiny VAE (tests/golden/vae-opensora-plan-v1.1/config.json) with its tile sizes
    -- (meta.json: tiling): 2 temporal chunks x 2 x 2 tiles
    fixture = {
      latent = { 4, 4, 5, 6 }, tiling = { 32, 4, 9, 3, 0.25 },
      config = { hidden_size = 32, hidden_size_mult = { 2, 1, 1, 1 }, num_res_blocks = 1 },
    },
    ["fixture-untiled"] = {
      latent = { 4, 4, 5, 6 }, tiling = "off",
      config = { hidden_size = 32, hidden_size_mult = { 2, 1, 1, 1 }, num_res_blocks = 1 },
    },
  },
}
