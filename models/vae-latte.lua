-- models/vae-latte.lua: Latte-1's video VAE decoder (class AutoencoderKLTemporalDecoder,
-- gen/families/vae_latte.lua) as data: maxin-cn/Latte-1's vae_temporal_decoder config (the SVD
-- VAE), checkpoint names exactly as diffusers' (docs/upstream.md#vae), and named variants. Not
-- code: gen/ reads and validates this table. A variant may also come from a config.json:
-- lua5.4 gen/main.lua --model models/vae-latte.lua --config config.json --name NAME --latent C,T,H,W
-- --out DIR.
return {
  family = "vae-latte",
  class = "AutoencoderKLTemporalDecoder",
  symbol = "vae_latte",
  dtype = "fp16", -- the pipeline loads the VAE in fp16

  config = {
    block_out_channels = { 128, 256, 512, 512 },
    layers_per_block = 2,
    latent_channels = 4,
    out_channels = 3,
    scaling_factor = 0.18215,
  },

  variants = {
    -- the released 16 x 512 x 512 pipeline: latent 16 x 64 x 64, chunks of 14 and 2 frames
    ["16x512x512"] = { latent = { 4, 16, 64, 64 } },
    -- the golden fixture's tiny VAE (tests/golden/vae-latte/config.json)
    fixture = { latent = { 4, 16, 6, 5 }, config = { block_out_channels = { 32, 64 } } },
  },
}
