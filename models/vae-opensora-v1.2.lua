-- models/vae-opensora-v1.2.lua: Open-Sora 1.2's video VAE decoder (class VideoAutoencoderPipeline,
-- gen/families/vae_opensora.lua) as data: hpcai-tech/OpenSora-VAE-v1.2's config (the temporal VAE
-- VAE_Temporal_SD, the SDXL AutoencoderKL it names, 17-frame micro chunks, the per-channel scale
-- and shift), checkpoint names exactly as VideoSys' (docs/upstream.md#vae), and named variants.
-- Not code: gen/ reads and validates this table. A variant may also come from a config.json:
-- lua5.4 gen/main.lua --model models/vae-opensora-v1.2.lua --config config.json --name NAME
-- --latent C,T,H,W --frames F --out DIR.
return {
  family = "vae-opensora-v1.2",
  class = "VideoAutoencoderPipeline",
  symbol = "vae_os12",
  dtype = "bf16", -- the pipeline runs the whole VAE in bf16

  config = {
    micro_frame_size = 17,
    scale = { 3.85, 2.32, 2.33, 3.06 },
    shift = { -0.10, 0.34, 0.27, 0.98 },
    -- the SDXL VAE (PixArt-alpha/pixart_sigma_sdxlvae_T5_diffusers, subfolder vae)
    block_out_channels = { 128, 256, 512, 512 },
    layers_per_block = 2,
    norm_num_groups = 32,
    latent_channels = 4,
    out_channels = 3,
    mid_block_add_attention = true,
    micro_batch_size = 4,
    -- VAE_Temporal_SD
    temporal_filters = 128,
    temporal_num_res_blocks = 4,
    temporal_channel_multipliers = { 1, 2, 2, 4 },
    temporal_downsample = { false, true, true },
    temporal_num_groups = 32,
    temporal_in_out_channels = 4,
    temporal_latent_embed_dim = 4,
    temporal_embed_dim = 4,
  },

  variants = {
    -- the released 480p 9:16 pipeline: 51 frames, latent 15 x 60 x 106 -> 480 x 848
    ["480p-9x16-51f"] = { latent = { 4, 15, 60, 106 }, frames = 51 },
    -- the golden fixture's tiny VAE (tests/golden/vae-opensora-v1.2/config.json): 26 frames from 8 latent frames
    fixture = {
      latent = { 4, 8, 5, 7 }, frames = 26,
      config = {
        block_out_channels = { 16, 32, 32, 32 }, norm_num_groups = 8,
        temporal_filters = 8, temporal_num_res_blocks = 2, temporal_num_groups = 4,
      },
    },
  },
}
