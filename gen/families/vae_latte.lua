-- vae_latte.lua: Latte-1's video VAE decoder (diffusers' AutoencoderKLTemporalDecoder, the SVD
-- VAE, as LattePipeline.decode_latents_with_temporal_decoder drives it; docs/upstream.md#vae) as
-- an op program: latents x (1 / scaling_factor), cut into chunks of `chunk` frames decoded on
-- their own: conv_in, the mid block and up blocks of spatio-temporal resnets (a per-frame SD
-- resnet, a temporal resnet over the chunk's frames with (3,1,1) convs, mixed by a learned
-- factor), the one-head mid-block attention, nearest upsampling, conv_out and time_conv_out.
-- Every GroupNorm has 32 groups (hard-coded upstream). Activations [1, C, frames, H, W]. One
-- phase (`decode`), io: latents [B, C, F, h, w] in, sample [B, 3, F, H, W] and frames_u8
-- [B, F, H, W, 3] out, one video a call. Not here: op numerics (runtime/cpu/vae.c).
local Program = require("program")
local S = require("schema")
local vae = require("vae")

local M = {}

M.kind = "network"
M.class_names = { "AutoencoderKLTemporalDecoder" }

M.config_fields = {
  block_out_channels = S.list(S.int { min = 1, max = 65536 }, { min_len = 1, max_len = 8 }),
  layers_per_block = S.int { min = 1, max = 16 },
  latent_channels = S.int { min = 1, max = 64 },
  out_channels = S.int { min = 1, max = 64 },
  in_channels = S.int { min = 1, max = 64 },
  scaling_factor = S.num { min = 1e-6, max = 1e6 }, -- latents are multiplied by 1 / scaling_factor (an fp32 scalar)
}
M.config_required = { "block_out_channels", "layers_per_block", "latent_channels", "scaling_factor" }
M.config_json_ignored = { down_block_types = true, force_upcast = true, sample_size = true }
M.config_json_metadata = {}

M.GROUPS = 32 -- every GroupNorm of the SVD decoder (hard-coded upstream, whatever the config says)
M.CHUNK = 14  -- LattePipeline's decode chunk (frames)

M.variant_fields = {
  latent = S.list(S.int { min = 1, max = 65536 }, { len = 4 }),
  chunk = S.int { min = 1, max = 4096 },
}
M.variant_required = { "latent" }
M.cli = { latent = { field = "latent", parse = vae.ints_flag(4) } }

M.PHASES = { "decode" }
M.PHASE_DOC = { decode = "One video: scale the latents, decode chunk by chunk." }
M.DIM_DOC = {
  B = "videos of one call", Cz = "latent channels", F = "frames", h = "latent rows", w = "latent columns",
  H = "pixel rows", W = "pixel columns", Co = "output channels (RGB)",
}

function M.check_config(c, fail)
  for _, ch in ipairs(c.block_out_channels or {}) do
    if ch % M.GROUPS ~= 0 then fail("block_out_channels", string.format("%d is not a multiple of the decoder's 32 "
      .. "GroupNorm groups", ch)) end
  end
end

function M.dims(v, fail)
  local c, l = v.config, v.latent
  if l[1] ~= c.latent_channels then -- named at the config's field: the latent's channels are the VAE's
    fail({ "config", "latent_channels" }, string.format("is %d, but the latent (--latent) has %d channels",
      c.latent_channels, l[1]))
  end
  local up = 1 << (#c.block_out_channels - 1)
  return { B = 1, Cz = l[1], F = l[2], h = l[3], w = l[4], H = up * l[3], W = up * l[4], Co = c.out_channels or 3 }
end

local BUFS = { A = "a", B = "b", S = "s", V = "v" }

-- A spatio-temporal resnet on x [1, C, n, h, w] (buffer "x"): the SD resnet per frame, then
-- the temporal resnet over the frames, mixed by (1 - sigmoid(m)) spatial + sigmoid(m) temporal.
local function st_res(W, prefix, x, Cout, dump)
  local s = { G = M.GROUPS, eps = 1e-6, per_frame = true, k = vae.K2, pad = vae.PAD2, twod = true,
    shortcut = "conv_shortcut", dump = dump and (dump .. ".spatial_res_block") }
  local hs = vae.resblock(W, prefix .. ".spatial_res_block", x, Cout, BUFS, s)
  local t = prefix .. ".temporal_res_block"
  local kt, pt = { 3, 1, 1 }, { 1, 1, 0, 0 }
  local h = vae.group_norm(W, t .. ".norm1", hs, "a", M.GROUPS, 1e-5, false, true)
  h = vae.conv(W, t .. ".conv1", h, "b", Cout, kt, pt)
  h = vae.group_norm(W, t .. ".norm2", h, "a", M.GROUPS, 1e-5, false, true)
  h = vae.conv(W, t .. ".conv2", h, "b", Cout, kt, pt)
  local ht = vae.add(W, t .. ".residual", hs, h, "b", { dump = dump and (dump .. ".temporal_res_block") })
  local m = W.P:weight(prefix .. ".time_mixer.mix_factor", { 1 })
  W:op("mix", prefix .. ".time_mixer", { out = { buf = "x" }, a = { buf = "x" }, b = { buf = "b" }, m = { w = m },
    n = vae.elems(hs), flip = 1 }, { hs, ht }, { hs }, { dump = dump })
  return hs
end

-- The decoder of one chunk z [1, C, n, h, w] (buffer "a"); the output [1, Co, n, H, W] on "b".
local function decode_chunk(W, c, x, dump)
  local L = #c.block_out_channels
  local function named(p) return dump and (dump .. p) or nil end
  local top = c.block_out_channels[L]
  x = vae.conv(W, "decoder.conv_in", x, "x", top, vae.K2, vae.PAD2, { wshape = { top, x.C, 3, 3 },
    dump = named("decoder.conv_in") })
  x = st_res(W, "decoder.mid_block.resnets.0", x, top, named("decoder.mid_block.resnets.0"))
  if c.layers_per_block >= 2 then -- the attention runs only between two resnets (see build)
    x = vae.attention(W, "decoder.mid_block.attentions.0", x, BUFS, M.GROUPS, 1e-6,
      { norm = "group_norm", q = "to_q", k = "to_k", v = "to_v", out = "to_out.0" },
      { linear = true, dump = named("decoder.mid_block.attentions.0") })
    x = st_res(W, "decoder.mid_block.resnets.1", x, top, named("decoder.mid_block.resnets.1"))
  end
  for i = 0, L - 1 do
    local Cout = c.block_out_channels[L - i]
    for j = 0, c.layers_per_block do
      local p = string.format("decoder.up_blocks.%d.resnets.%d", i, j)
      x = st_res(W, p, x, Cout, named(p))
    end
    if i < L - 1 then
      x = vae.upsample_conv2d(W, "decoder.up_blocks." .. i .. ".upsamplers.0", x, BUFS,
        { dump = named("decoder.up_blocks." .. i .. ".upsamplers.0") })
    end
  end
  x = vae.group_norm_silu(W, "decoder.conv_norm_out", x, "a", M.GROUPS, 1e-6, true, { dump = named("decoder.conv_norm_out") })
  local Co = c.out_channels or 3
  x = vae.conv(W, "decoder.conv_out", x, "x", Co, vae.K2, vae.PAD2, { wshape = { Co, x.C, 3, 3 },
    dump = named("decoder.conv_out") })
  return vae.conv(W, "decoder.time_conv_out", x, "b", Co, { 3, 1, 1 }, { 1, 1, 0, 0 },
    { dump = named("decoder.time_conv_out") })
end

function M.build(v)
  local d, c = v.dims, v.config
  local P = Program.new(v.storage, v.fail_size, M.PHASES, M.PHASE_DOC)
  P:use_dims(d, M.DIM_DOC)
  for _, p in ipairs({ "encoder.", "quant_conv." }) do P:ignore_prefix(p, "the encoder side: not run by a decoder") end
  -- the mid block (MidBlockTemporalDecoder) runs resnets[0], then its one attention and resnets[1]
  -- paired by a zip: upstream builds layers_per_block resnets and one attention, and with one
  -- layer never runs the attention, with more never the resnets past the second
  for j = 2, c.layers_per_block - 1 do
    P:ignore_prefix("decoder.mid_block.resnets." .. j .. ".", "built upstream, never run (the mid block's zip stops at its one attention)")
  end
  if c.layers_per_block == 1 then
    P:ignore_prefix("decoder.mid_block.attentions.0.", "built upstream, never run (no second resnet to pair it with)")
  end
  local W = vae.work(P, { "x", "a", "b", "s", "v" })
  local z, video = vae.decoder_io(W, d, "latents", "F", 8)
  W:op("scale", "latents_scaled", { out = { buf = "zs" }, src = { buf = "zs" }, n = vae.elems(z), k = 1 / c.scaling_factor,
    divide = 0 }, { z }, { z }, { dump = "latents_scaled" })
  local chunk = v.chunk or M.CHUNK
  local S = P.schedule
  S[#S + 1] = string.format("decode schedule: %d chunks of up to %d frames, each decoded on its own:", -(-d.F // chunk), chunk)
  for k = 0, (d.F - 1) // chunk do
    S[#S + 1] = string.format("  chunk %d: frames %d-%d", k, k * chunk, math.min(d.F, (k + 1) * chunk) - 1)
  end
  for k = 0, (d.F - 1) // chunk do
    local f0, n = k * chunk, math.min(chunk, d.F - k * chunk)
    local pre = string.format("chunk%d.", k)
    vae.progress(W, "DITC_PROGRESS_CHUNK", k, -(-d.F // chunk))
    local x = vae.tensor("a", 1, d.Cz, n, d.h, d.w)
    vae.copy_frames(W, pre .. "z", z, f0, n, x, 0, { dump = pre .. "z" })
    local y = decode_chunk(W, c, x, k == 0 and pre or nil)
    vae.copy_frames(W, pre .. "sample", y, 0, n, video, f0, { dump = pre .. "sample", dump_of = y })
  end
  vae.finish(W, video, vae.TRUNCATE)
  return P
end

return M
