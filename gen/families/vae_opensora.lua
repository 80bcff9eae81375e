-- vae_opensora.lua: Open-Sora 1.2's video VAE decoder (VideoSys' VideoAutoencoderPipeline;
-- docs/upstream.md#vae) as an op program: the latent un-normalised per channel (z * scale +
-- shift), cut into micro chunks of `micro_frame_size` frames' latents, each decoded on its own by
-- the temporal VAE (causal 3-D convs with zero padding, GroupNorm over the chunk's frames,
-- depth-to-time upsampling; the first frames of a chunk cropped), then every frame decoded by the
-- 2-D AutoencoderKL decoder (x / 0.18215, SD resnets, the mid-block attention, nearest
-- upsampling), `micro_batch` frames a call. One phase (`decode`), io: z [B, C, T, h, w] in,
-- sample [B, 3, F, H, W] and frames_u8 [B, F, H, W, 3] out, one video a call. Not here: op
-- numerics (runtime/cpu/vae.c) or the video file (runtime/video/).
local Program = require("program")
local S = require("schema")
local vae = require("vae")

local M = {}

M.kind = "network"
M.class_names = { "VideoAutoencoderPipeline", "OpenSoraVAE_V1_2" }

local ints = function(max_len) return S.list(S.int { min = 0, max = 65536 }, { min_len = 1, max_len = max_len or 8 }) end
M.config_fields = {
  micro_frame_size = S.int { min = 1, max = 4096 },
  scale = S.list(S.num {}, { min_len = 1, max_len = 64 }),
  shift = S.list(S.num {}, { min_len = 1, max_len = 64 }),
  -- the 2-D decoder (diffusers AutoencoderKL config names)
  block_out_channels = ints(),
  layers_per_block = S.int { min = 1, max = 16 },
  norm_num_groups = S.int { min = 1, max = 1024 },
  latent_channels = S.int { min = 1, max = 64 },
  out_channels = S.int { min = 1, max = 64 },
  mid_block_add_attention = S.bool(),
  micro_batch_size = S.int { min = 1, max = 4096 },
  -- the temporal VAE (VideoSys VAE_Temporal constructor names)
  temporal_filters = S.int { min = 1, max = 8192 },
  temporal_num_res_blocks = S.int { min = 1, max = 16 },
  temporal_channel_multipliers = ints(),
  temporal_downsample = S.list(S.bool(), { min_len = 0, max_len = 8 }),
  temporal_num_groups = S.int { min = 1, max = 1024 },
  temporal_in_out_channels = S.int { min = 1, max = 64 },
  temporal_latent_embed_dim = S.int { min = 1, max = 64 },
  temporal_embed_dim = S.int { min = 1, max = 64 },
}
M.config_required = { "micro_frame_size", "scale", "shift", "block_out_channels", "layers_per_block", "norm_num_groups",
  "latent_channels", "out_channels", "temporal_filters", "temporal_num_res_blocks", "temporal_channel_multipliers",
  "temporal_downsample", "temporal_num_groups", "temporal_in_out_channels", "temporal_latent_embed_dim", "temporal_embed_dim" }
-- Top-level fields of its nested config.json that do not affect decoding, and its metadata (the
-- pipeline binary's run-time check of config.json skips both, as the import does)
M.config_json_ignored = { cal_loss = true, freeze_vae_2d = true, from_pretrained = true }
M.config_json_metadata = { architectures = true, model_type = true, torch_dtype = true, transformers_version = true }

-- A variant: the latent [C, T, h, w] of one video, the frames it decodes to, and how many frames
-- one spatial call decodes (numerically irrelevant: every frame is its own image).
M.variant_fields = {
  latent = S.list(S.int { min = 1, max = 65536 }, { len = 4 }),
  frames = S.int { min = 1, max = 65536 },
  micro_batch = S.int { min = 1, max = 4096 },
}
M.variant_required = { "latent", "frames" }
M.cli = { latent = { field = "latent", parse = vae.ints_flag(4) }, frames = "frames", ["micro-batch"] = "micro_batch" }

M.PHASES = { "decode" }
M.PHASE_DOC = { decode = "One video: un-normalise, temporal decode chunk by chunk, spatial decode frame by frame." }
M.DIM_DOC = {
  B = "videos of one call", Cz = "latent channels (the temporal VAE's embed_dim)", C2 = "the 2-D VAE's latent channels",
  Tz = "latent frames", h = "latent rows", w = "latent columns",
  F = "decoded frames", H = "pixel rows", W = "pixel columns", Co = "output channels (RGB)",
}

-- VideoSys' VAE_Temporal_SD: the released temporal VAE's hard-coded constructor arguments
local TEMPORAL_SD = { filters = 128, num_res_blocks = 4, channel_multipliers = { 1, 2, 2, 4 },
  temporal_downsample = { false, true, true }, num_groups = 32, in_out_channels = 4, latent_embed_dim = 4, embed_dim = 4 }
-- the SDXL VAE that the released pipeline names (PixArt-alpha/pixart_sigma_sdxlvae_T5_diffusers)
local SDXL = { block_out_channels = { 128, 256, 512, 512 }, layers_per_block = 2, norm_num_groups = 32,
  latent_channels = 4, out_channels = 3, mid_block_add_attention = true }

-- The released config.json names its parts (vae_2d.from_pretrained, vae_temporal.type); a
-- fixture's carries them inline (vae_2d.config: an AutoencoderKL config; vae_temporal: the
-- VAE_Temporal arguments). Maps either onto the flat config fields. fail(key, msg).
function M.import_config_json(obj, fail, note)
  local json = require("json")
  local c = {}
  local function val(v) if v == json.null then return nil end return v end
  local top = { micro_frame_size = true, scale = true, shift = true }
  for _, k in ipairs(json.keys(obj)) do
    if top[k] then c[k] = val(obj[k])
    elseif k ~= "vae_2d" and k ~= "vae_temporal" and not M.config_json_ignored[k] and not M.config_json_metadata[k]
      and not k:match("^_") then
      fail(k, "unknown config.json field (not a VideoAutoencoderPipeline setting ditc knows)")
    end
  end
  local v2 = val(obj.vae_2d)
  if type(v2) ~= "table" or v2[1] ~= nil then fail("vae_2d", "must be an object (the 2-D VAE's settings)") end
  local sub = val(v2.config)
  if sub ~= nil and type(sub) ~= "table" then fail("vae_2d", "config must be an object (an AutoencoderKL config)") end
  if sub == nil then
    if val(v2.from_pretrained) ~= "PixArt-alpha/pixart_sigma_sdxlvae_T5_diffusers" then
      fail("vae_2d", "names no config and no known checkpoint: give vae_2d.config (an AutoencoderKL config.json) "
        .. "or from_pretrained PixArt-alpha/pixart_sigma_sdxlvae_T5_diffusers")
    end
    sub = SDXL
  end
  for _, k in ipairs({ "block_out_channels", "layers_per_block", "norm_num_groups", "latent_channels" }) do
    if sub ~= SDXL and val(sub[k]) == nil then fail("vae_2d", "config: missing " .. k .. " (the 2-D decoder's size)") end
  end
  for k in pairs(SDXL) do if val(sub[k]) ~= nil then c[k] = val(sub[k]) end end
  if sub.act_fn and sub.act_fn ~= "silu" then fail("vae_2d", "act_fn " .. tostring(sub.act_fn) .. " is not built (silu)") end
  c.micro_batch_size = val(v2.micro_batch_size)
  local vt = val(obj.vae_temporal)
  if type(vt) ~= "table" or vt[1] ~= nil then fail("vae_temporal", "must be an object (the temporal VAE's settings)") end
  local targs
  if vt.type == "VAE_Temporal_SD" then targs = TEMPORAL_SD
  elseif vt.type == "VAE_Temporal" then targs = vt
  else fail("vae_temporal", "type " .. tostring(vt.type) .. " is not built (VAE_Temporal_SD or VAE_Temporal)") end
  for _, k in ipairs({ "filters", "num_res_blocks", "channel_multipliers", "temporal_downsample", "num_groups" }) do
    if targs ~= TEMPORAL_SD and val(targs[k]) == nil then
      fail("vae_temporal", "missing " .. k .. " (the temporal VAE's size)")
    end
  end
  for k in pairs(TEMPORAL_SD) do
    if val(targs[k]) ~= nil then c["temporal_" .. (k == "temporal_downsample" and "downsample" or k)] = val(targs[k]) end
  end
  if targs.activation_fn and targs.activation_fn ~= "swish" then
    fail("vae_temporal", "activation_fn " .. tostring(targs.activation_fn) .. " is not built (swish)")
  end
  note(string.format("vae_2d from %s, vae_temporal %s", sub == SDXL and "the SDXL VAE's released config"
    or "vae_2d.config", tostring(vt.type)))
  return c
end

function M.check_config(c, fail)
  local C = c.temporal_embed_dim -- the latent's channels (the temporal VAE's embed_dim)
  if c.scale and C and #c.scale ~= C then fail("scale", string.format("has %d entries for %d latent channels", #c.scale, C)) end
  if c.shift and C and #c.shift ~= C then fail("shift", string.format("has %d entries for %d latent channels", #c.shift, C)) end
  for _, ch in ipairs(c.block_out_channels or {}) do
    if c.norm_num_groups and (ch < 1 or ch % c.norm_num_groups ~= 0) then
      fail("block_out_channels", string.format("%d is not a multiple of norm_num_groups %d", ch, c.norm_num_groups))
    end
  end
  local td, mult = c.temporal_downsample, c.temporal_channel_multipliers
  if td and mult and #td ~= #mult - 1 then
    fail("temporal_downsample", string.format("has %d entries; temporal_channel_multipliers has %d (one more)", #td, #mult))
  end
  if mult and c.temporal_filters and c.temporal_num_groups then
    for _, m in ipairs(mult) do
      if m < 1 or (m * c.temporal_filters) % c.temporal_num_groups ~= 0 then
        fail("temporal_channel_multipliers", string.format("%d x %d filters is not a positive multiple of %d groups", m,
          c.temporal_filters, c.temporal_num_groups))
      end
    end
  end
  if c.temporal_in_out_channels and c.latent_channels and c.temporal_in_out_channels ~= c.latent_channels then
    fail("temporal_in_out_channels", string.format("is %d; the 2-D VAE's latent_channels is %d (the temporal VAE decodes "
      .. "into the 2-D latent)", c.temporal_in_out_channels, c.latent_channels))
  end
end

-- The temporal VAE's time factor, and the latent frames of a chunk of n pixel frames.
local function time_factor(c)
  local f = 1
  for _, d in ipairs(c.temporal_downsample) do if d then f = f * 2 end end
  return f
end

-- The micro chunks: { t0, t, n, pad } per chunk (latent frames t0 .. t0+t-1 decode to n frames
-- after cropping pad), or an error message.
function M.chunks(c, Tz, F)
  local f, mf = time_factor(c), c.micro_frame_size
  local mz = -(-mf // f) -- latent frames of a full chunk
  local out, left = {}, F
  for t0 = 0, Tz - 1, mz do
    local t = math.min(mz, Tz - t0)
    local n = math.min(mf, left)
    if n < 1 then return nil, string.format("the latent's %d frames hold more chunks than %d frames need", Tz, F) end
    local pad = (f - n % f) % f
    if f * t - pad ~= n then
      return nil, string.format("latent chunk %d (%d latent frames) decodes to %d to %d frames, not the %d the frame count "
        .. "leaves it", #out, t, f * (t - 1) + 1, f * t, n)
    end
    out[#out + 1] = { t0 = t0, t = t, n = n, pad = pad }
    left = left - mf
  end
  if left > 0 then return nil, string.format("%d latent frames decode to fewer than %d frames", Tz, F) end
  return out
end

function M.dims(v, fail)
  local c, l = v.config, v.latent
  if l[1] ~= c.temporal_embed_dim then -- named at the config's field: the latent's channels are the VAE's
    fail({ "config", "temporal_embed_dim" }, string.format("is %d (the temporal VAE's embed_dim), but the latent "
      .. "(--latent) has %d channels", c.temporal_embed_dim, l[1]))
  end
  local chunks, err = M.chunks(c, l[2], v.frames)
  if not chunks then -- the chunking follows micro_frame_size (config) as much as --latent and --frames
    fail({ "config", "micro_frame_size" }, string.format("chunks of %d frames cannot decode the latent's %d frames into "
      .. "%d frames (--latent, --frames): %s", c.micro_frame_size, l[2], v.frames, err))
  end
  v.chunk_table = chunks
  local up = 1 << (#c.block_out_channels - 1)
  return { B = 1, Cz = l[1], C2 = c.latent_channels, Tz = l[2], h = l[3], w = l[4], F = v.frames, H = up * l[3],
    W = up * l[4], Co = c.out_channels }
end

local BUFS = { A = "a", B = "b", S = "s", V = "v" }

-- The temporal VAE decoder of one chunk x [1, C, t, h, w] on buffer "x".
local function temporal_decode(W, c, x, dump)
  local G, eps, nrb = c.temporal_num_groups, 1e-5, c.temporal_num_res_blocks
  local mult, fl = c.temporal_channel_multipliers, c.temporal_filters
  local s = { G = G, eps = eps, per_frame = false, k = { 3, 3, 3 }, pad = vae.CAUSAL3, bias = false, conv1 = "conv1.conv",
    conv2 = "conv2.conv", shortcut = "conv3.conv" }
  local function named(p) return dump and (dump .. p) or nil end
  local function conv(name, y, Cout, k, pad, opt)
    opt = opt or {}
    opt.dump = named(name)
    return vae.conv(W, "temporal_vae." .. name .. ".conv", y, opt.out or "x", Cout, k, pad, opt)
  end
  x = conv("post_quant_conv", x, c.temporal_latent_embed_dim, vae.K1, vae.PAD0, { out = "a" })
  x = conv("decoder.conv1", x, fl * mult[#mult], { 3, 3, 3 }, vae.CAUSAL3)
  for i = 0, nrb - 1 do
    s.dump = named("decoder.res_blocks." .. i)
    x = vae.resblock(W, "temporal_vae.decoder.res_blocks." .. i, x, x.C, BUFS, s)
  end
  for i = #mult - 1, 0, -1 do
    for j = 0, nrb - 1 do
      local p = string.format("decoder.block_res_blocks.%d.%d", i, j)
      s.dump = named(p)
      x = vae.resblock(W, "temporal_vae." .. p, x, fl * mult[i + 1], BUFS, s)
    end
    if i > 0 and c.temporal_downsample[i] then
      local y = conv("decoder.conv_blocks." .. (i - 1), x, 2 * x.C, { 3, 3, 3 }, vae.CAUSAL3, { out = "a" })
      x = vae.like(y, "x", { C = y.C // 2, T = 2 * y.T })
      W:op("depth_to_time", "temporal_vae.decoder.depth_to_time." .. (i - 1), { out = { buf = "x" }, src = { buf = "a" },
        N = y.N, C = x.C, T = y.T, HW = y.H * y.W }, { y }, { x })
    end
  end
  x = vae.group_norm_silu(W, "temporal_vae.decoder.norm1", x, "a", G, eps, false, { dump = named("decoder.norm1") })
  return conv("decoder.conv_out", x, c.temporal_in_out_channels, { 3, 3, 3 }, vae.CAUSAL3, { out = "b" })
end

-- The 2-D AutoencoderKL decoder of n frames x [n, C, 1, h, w] on buffer "x".
local function spatial_decode(W, c, x, dump)
  local G, eps, L = c.norm_num_groups, 1e-6, #c.block_out_channels
  local pre = "spatial_vae.module."
  local function named(p) return dump and (dump .. p) or nil end
  local s = { G = G, eps = eps, per_frame = true, k = vae.K2, pad = vae.PAD2, twod = true, shortcut = "conv_shortcut" }
  x = vae.conv(W, pre .. "post_quant_conv", x, "a", x.C, vae.K1, vae.PAD0, { wshape = { x.C, x.C, 1, 1 },
    dump = named("post_quant_conv") })
  local top = c.block_out_channels[L]
  x = vae.conv(W, pre .. "decoder.conv_in", x, "x", top, vae.K2, vae.PAD2, { wshape = { top, x.C, 3, 3 },
    dump = named("decoder.conv_in") })
  s.dump = named("decoder.mid_block.resnets.0")
  x = vae.resblock(W, pre .. "decoder.mid_block.resnets.0", x, top, BUFS, s)
  if c.mid_block_add_attention then
    x = vae.attention(W, pre .. "decoder.mid_block.attentions.0", x, BUFS, G, eps,
      { norm = "group_norm", q = "to_q", k = "to_k", v = "to_v", out = "to_out.0" },
      { linear = true, dump = named("decoder.mid_block.attentions.0") })
  end
  s.dump = named("decoder.mid_block") -- the mid block's output
  x = vae.resblock(W, pre .. "decoder.mid_block.resnets.1", x, top, BUFS, s)
  for i = 0, L - 1 do
    local Cout = c.block_out_channels[L - i]
    for j = 0, c.layers_per_block do
      local p = string.format("decoder.up_blocks.%d.resnets.%d", i, j)
      s.dump = named(p)
      x = vae.resblock(W, pre .. p, x, Cout, BUFS, s)
    end
    if i < L - 1 then
      x = vae.upsample_conv2d(W, pre .. "decoder.up_blocks." .. i .. ".upsamplers.0", x, BUFS,
        { dump = named("decoder.up_blocks." .. i .. ".upsamplers.0") })
    end
  end
  x = vae.group_norm_silu(W, pre .. "decoder.conv_norm_out", x, "a", G, eps, true, { dump = named("decoder.conv_norm_out") })
  return vae.conv(W, pre .. "decoder.conv_out", x, "b", c.out_channels, vae.K2, vae.PAD2,
    { wshape = { c.out_channels, x.C, 3, 3 }, dump = named("decoder.conv_out") })
end

function M.build(v)
  local d, c = v.dims, v.config
  local P = Program.new(v.storage, v.fail_size, M.PHASES, M.PHASE_DOC)
  P:use_dims(d, M.DIM_DOC)
  for _, p in ipairs({ "spatial_vae.module.encoder.", "spatial_vae.module.quant_conv.", "temporal_vae.encoder.",
    "temporal_vae.quant_conv." }) do
    P:ignore_prefix(p, "the encoder side: not run by a decoder")
  end
  local W = vae.work(P, { "x", "a", "b", "s", "v" })
  local z, video = vae.decoder_io(W, d, "z", "Tz", 24)
  P:buffer("x_z", { d.B, d.C2, d.F, d.h, d.w }, { dims = "B, C2, F, h, w" })
  local sc, sh = P:weight("scale", { 1, d.Cz, 1, 1, 1 }), P:weight("shift", { 1, d.Cz, 1, 1, 1 })
  W:op("channel_affine", "unnormalize", { out = { buf = "zs" }, src = { buf = "zs" }, a = { w = sc }, b = { w = sh }, N = 1,
    C = d.Cz, S = d.Tz * d.h * d.w }, { z }, { z }, { dump = "z_unnormalized" })
  local xz = vae.tensor("x_z", 1, d.C2, d.F, d.h, d.w)
  local f0 = 0
  local S = P.schedule
  S[#S + 1] = string.format("decode schedule: %d micro chunks of up to %d latent frames (%d frames each), each decoded "
    .. "on its own by the temporal VAE:", #v.chunk_table, -(-c.micro_frame_size // time_factor(c)), c.micro_frame_size)
  for k, ch in ipairs(v.chunk_table) do
    S[#S + 1] = string.format("  chunk %d: latent frames %d-%d -> %d frames, the first %d dropped -> frames %d-%d", k - 1,
      ch.t0, ch.t0 + ch.t - 1, time_factor(c) * ch.t, ch.pad, f0, f0 + ch.n - 1)
    f0 = f0 + ch.n
  end
  f0 = 0
  for k, ch in ipairs(v.chunk_table) do
    local pre = string.format("temporal.chunk%d.", k - 1)
    vae.progress(W, "DITC_PROGRESS_CHUNK", k - 1, #v.chunk_table)
    local x = vae.tensor("x", 1, d.Cz, ch.t, d.h, d.w)
    vae.copy_frames(W, pre .. "z", z, ch.t0, ch.t, x, 0, { dump = pre .. "z" })
    local y = temporal_decode(W, c, x, k == 1 and pre or nil)
    local out = vae.like(y, "x", { T = ch.n }) -- [1, C2, n, h, w]
    vae.copy_frames(W, pre .. "crop", y, ch.pad, ch.n, out, 0, { dump = pre .. "out" })
    vae.copy_frames(W, pre .. "place", out, 0, ch.n, xz, f0, k == #v.chunk_table and { dump = "x_z", dump_of = xz } or nil)
    f0 = f0 + ch.n
  end
  local mb = v.micro_batch or c.micro_batch_size or 4
  S[#S + 1] = string.format("then the 2-D decoder on every frame, %d frames a call: %d calls", mb, -(-d.F // mb))
  for m = 0, (d.F - 1) // mb do
    local t0, nf = m * mb, math.min(mb, d.F - m * mb)
    local pre = m == 0 and "spatial.frame0." or nil
    vae.progress(W, "DITC_PROGRESS_FRAMES", m, -(-d.F // mb))
    -- frames t0 .. t0+nf-1 of x_z [C, F, hw] as nf images [nf, C, 1, hw]
    local x = vae.tensor("x", nf, d.C2, 1, d.h, d.w)
    W:op("copy4", string.format("spatial.mb%d.frames", m), { out = { buf = "x" }, src = { buf = "x_z" }, n0 = nf, n1 = d.C2,
      n2 = d.h * d.w, n3 = 1, os = t0 * d.h * d.w, s0 = d.h * d.w, s1 = d.F * d.h * d.w, s2 = 1, s3 = 0, od = 0,
      d0 = d.C2 * d.h * d.w, d1 = d.h * d.w, d2 = 1, d3 = 0 }, { xz }, { x })
    W:op("scale", string.format("spatial.mb%d.scale", m), { out = { buf = "x" }, src = { buf = "x" }, n = vae.elems(x),
      k = 0.18215, divide = 1 }, { x }, { x }, m == 0 and { dump = "spatial.mb0.in", dump_shape = { nf, d.C2, d.h, d.w } }
      or nil) -- the decoder's input (after the division, as the fixture stores it)
    W.dump_shape = function(t) return { 1, t.C, t.H, t.W } end -- frame 0: the first image
    local y = spatial_decode(W, c, x, pre)
    W.dump_shape = nil
    -- the images [nf, Co, 1, HW] into frames t0.. of the video [Co, F, HW]
    local HW = d.H * d.W
    W:op("copy4", string.format("spatial.mb%d.place", m), { out = { buf = "video" }, src = { buf = y.buf }, n0 = nf,
      n1 = d.Co, n2 = HW, n3 = 1, os = 0, s0 = d.Co * HW, s1 = HW, s2 = 1, s3 = 0, od = t0 * HW, d0 = HW, d1 = d.F * HW,
      d2 = 1, d3 = 0 }, { y }, { video }, m == 0 and { dump = "spatial.mb0.out", dump_of = y,
      dump_shape = { nf, d.Co, d.H, d.W } } or nil)
  end
  vae.finish(W, video, vae.ROUND)
  return P
end

return M
