-- vae_osp.lua: Open-Sora-Plan v1.1's video VAE decoder (CausalVAEModel, as
-- OpenSoraPlanPipeline.decode_latents drives it; docs/upstream.md#vae) as an op program: latents
-- / 0.18215, then, with tiling, overlapping temporal chunks (the first decoded frame of every
-- chunk but the first dropped) of overlapping spatial tiles, each a separate decoder call, blended
-- in place in raster order and cropped; without, one decoder call. The decoder: causal 3-D convs
-- that pad by replicating the first frame, GroupNorm (32 groups) over all frames, 3-D resnets, a
-- one-head attention per frame, nearest 2x spatial and interpolated 2x temporal upsampling with a
-- learned mix. The tile schedule is static: plan.txt prints it. One phase (`decode`), io:
-- latents [B, C, T, h, w] in, sample [B, 3, F, H, W] and frames_u8 [B, F, H, W, 3] out, one video a
-- call. Not here: op numerics (runtime/cpu/vae.c).
local Program = require("program")
local S = require("schema")
local vae = require("vae")

local M = {}

M.kind = "network"
M.class_names = { "CausalVAEModel", "CausalVAEModel_4x8x8" }

M.config_fields = {
  hidden_size = S.int { min = 1, max = 65536 },
  hidden_size_mult = S.list(S.int { min = 1, max = 64 }, { min_len = 1, max_len = 8 }),
  num_res_blocks = S.int { min = 1, max = 16 },
  z_channels = S.int { min = 1, max = 64 },
  embed_dim = S.int { min = 1, max = 64 },
  attn_resolutions = S.list(S.int {}, { max_len = 0 }),
  decoder_conv_in = S.str { enum = { "CausalConv3d" } },
  decoder_conv_out = S.str { enum = { "CausalConv3d" } },
  decoder_attention = S.str { enum = { "AttnBlock3DFix" } },
  decoder_mid_resnet = S.str { enum = { "ResnetBlock3D" } },
  decoder_resnet_blocks = S.list(S.str { enum = { "ResnetBlock3D" } }, { min_len = 1, max_len = 8 }),
  decoder_spatial_upsample = S.list(S.str { enum = { "", "SpatialUpsample2x" } }, { min_len = 1, max_len = 8 }),
  decoder_temporal_upsample = S.list(S.str { enum = { "", "TimeUpsampleRes2x" } }, { min_len = 1, max_len = 8 }),
  q_conv = S.str { enum = { "CausalConv3d" } },
  in_channels = S.int { min = 1, max = 64 },
}
M.config_required = { "hidden_size", "hidden_size_mult", "num_res_blocks", "z_channels", "embed_dim",
  "decoder_spatial_upsample", "decoder_temporal_upsample" }
M.config_json_ignored = {}
for _, k in ipairs({ "double_z", "dropout", "encoder_attention", "encoder_conv_in", "encoder_conv_out",
  "encoder_mid_resnet", "encoder_resnet_blocks", "encoder_spatial_downsample", "encoder_temporal_downsample",
  "loss_params", "loss_type", "lr", "resolution", "ckpt_path", "ignore_keys" }) do
  M.config_json_ignored[k] = true
end
M.config_json_metadata = {}
M.config_json_one_note = true

M.GROUPS, M.EPS = 32, 1e-6 -- every GroupNorm (hard-coded upstream)
M.SCALE = 0.18215 -- the pipeline wrapper's divisor
M.TILING = { 512, 64, 29, 8, 0.25 } -- the pipeline's tile sizes: sample, latent, sample_t, latent_t, overlap

-- tiling: "off" or { sample, latent, sample_t, latent_t, overlap }
local function tiling_schema(v, path, fail)
  if v == "off" then return end
  S.list(S.num { min = 0, max = 65536 }, { len = 5 })(v, path, fail)
  for i = 1, 4 do S.int { min = 1, max = 65536 }(v[i], { table.unpack(path), i }, fail) end
  if v[4] < 2 then fail(path, "the latent tile frames (4th) must be >= 2 (chunks overlap by one latent frame)") end
  if not (v[5] >= 0 and v[5] < 1) then fail(path, "the overlap (5th) must be in [0, 1)") end
  if math.floor(v[2] * (1 - v[5])) < 1 then fail(path, "latent tiles do not advance: latent * (1 - overlap) < 1") end
end

M.variant_fields = { latent = S.list(S.int { min = 1, max = 65536 }, { len = 4 }), tiling = tiling_schema }
M.variant_required = { "latent" }
M.cli = {
  latent = { field = "latent", parse = vae.ints_flag(4) },
  tiling = { field = "tiling", parse = function(s, flag)
    if s == "off" then return "off" end
    local out = {}
    for x in (s .. ","):gmatch("([^,]*),") do out[#out + 1] = tonumber(x) end
    if #out ~= 5 then require("util").fail(nil, "%s takes off or SAMPLE,LATENT,SAMPLE_T,LATENT_T,OVERLAP; got %q", flag, s) end
    for i = 1, 4 do out[i] = math.tointeger(out[i]) or out[i] end
    return out
  end },
}

M.PHASES = { "decode" }
M.PHASE_DOC = { decode = "One video: scale the latents, decode tile by tile (or whole), blend, crop." }
M.DIM_DOC = {
  B = "videos of one call", Cz = "latent channels", Tz = "latent frames", h = "latent rows", w = "latent columns",
  F = "decoded frames", H = "pixel rows", W = "pixel columns", Co = "output channels (RGB)",
}

function M.check_config(c, fail)
  local L = c.hidden_size_mult and #c.hidden_size_mult
  for _, k in ipairs({ "decoder_resnet_blocks", "decoder_spatial_upsample", "decoder_temporal_upsample" }) do
    if L and c[k] and #c[k] ~= L then fail(k, string.format("has %d entries for %d levels (hidden_size_mult)", #c[k], L)) end
  end
  for _, m in ipairs(c.hidden_size_mult or {}) do
    if c.hidden_size and (c.hidden_size * m) % M.GROUPS ~= 0 then
      fail("hidden_size_mult", string.format("hidden_size x %d = %d is not a multiple of the 32 GroupNorm groups", m,
        c.hidden_size * m))
    end
  end
end

-- The upsampling of the decoder: spatial factor, and the frames T latent frames decode to.
local function factors(c)
  local sf, tu = 1, 0
  for _, s in ipairs(c.decoder_spatial_upsample) do if s ~= "" then sf = sf * 2 end end
  for _, s in ipairs(c.decoder_temporal_upsample) do if s ~= "" then tu = tu + 1 end end
  return sf, function(T) return (T - 1) * (1 << tu) + 1 end
end

-- The tile schedule (spec'd by upstream's tiled_decode / tiled_decode2d): temporal chunks
-- { t0, t, drop }, tile rows and columns { at, n } in latent units, the blend extent and kept
-- size in pixels; nil when the variant decodes whole.
function M.tiles(c, l, tiling)
  if tiling == "off" then return nil end
  local Ss, Ls, Lt, f = tiling[1], tiling[2], tiling[4], tiling[5]
  local Tz, h, w = l[2], l[3], l[4]
  if not (w > Ls or h > Ls or Tz > Lt) then return nil end
  local idx = {}
  for i = 0, Tz - 1, Lt - 1 do idx[#idx + 1] = i end
  local ch = {}
  if #idx == 1 then ch[1] = { 0, Tz }
  else
    for i = 1, #idx - 1 do ch[i] = { idx[i], idx[i + 1] + 1 } end
    if ch[#ch][2] > Tz then ch[#ch][2] = Tz
    elseif ch[#ch][2] < Tz then ch[#ch + 1] = { idx[#idx], Tz } end
  end
  local chunks = {}
  for i, s in ipairs(ch) do chunks[i] = { t0 = s[1], t = s[2] - s[1], drop = i > 1 and 1 or 0 } end
  local step = math.floor(Ls * (1 - f))
  local function spans(n)
    local out = {}
    for a = 0, n - 1, step do out[#out + 1] = { at = a, n = math.min(Ls, n - a) } end
    return out
  end
  local E = math.floor(Ss * f)
  return { chunks = chunks, rows = spans(h), cols = spans(w), E = E, keep = Ss - E }
end

function M.dims(v, fail)
  local c, l = v.config, v.latent
  if l[1] ~= c.embed_dim then -- named at the config's field: the latent's channels are the VAE's
    fail({ "config", "embed_dim" }, string.format("is %d, but the latent (--latent) has %d channels", c.embed_dim, l[1]))
  end
  v.tiling = v.tiling or M.TILING
  v.tile_table = M.tiles(c, l, v.tiling)
  local sf, frames = factors(c)
  local H, W = sf * l[3], sf * l[4]
  if v.tile_table then -- the kept pieces: every tile but the last keeps `keep` pixels
    local function kept(spans)
      local n = 0
      for _, s in ipairs(spans) do n = n + math.min(v.tile_table.keep, sf * s.n) end
      return n
    end
    H, W = kept(v.tile_table.rows), kept(v.tile_table.cols)
  end
  return { B = 1, Cz = l[1], Tz = l[2], h = l[3], w = l[4], F = frames(l[2]), H = H, W = W, Co = 3, sf = sf }
end

local BUFS = { A = "a", B = "b", S = "s", V = "v" }

-- The decoder on x [1, C, t, h, w] (buffer "b", post_quant_conv applied); its output on
-- out_buf (default "b"), dumped as out_dump (default the block name).
local function decoder(W, c, x, dump, out_buf, out_dump)
  local L = #c.hidden_size_mult
  local function named(p) return dump and (dump .. p) or nil end
  local s = { G = M.GROUPS, eps = M.EPS, per_frame = false, k = { 3, 3, 3 }, pad = vae.CAUSAL3, replicate = true,
    conv1 = "conv1.conv", conv2 = "conv2.conv", shortcut = "nin_shortcut.conv" }
  local top = c.hidden_size * c.hidden_size_mult[L]
  x = vae.conv(W, "decoder.conv_in.conv", x, "x", top, { 3, 3, 3 }, vae.CAUSAL3, { replicate = true,
    dump = named("decoder.conv_in") })
  s.dump = named("decoder.mid.block_1")
  x = vae.resblock(W, "decoder.mid.block_1", x, top, BUFS, s)
  x = vae.attention(W, "decoder.mid.attn_1", x, BUFS, M.GROUPS, M.EPS,
    { norm = "norm", q = "q.conv", k = "k.conv", v = "v.conv", out = "proj_out.conv" },
    { pooled = true, dump = named("decoder.mid.attn_1") })
  s.dump = named("decoder.mid.block_2")
  x = vae.resblock(W, "decoder.mid.block_2", x, top, BUFS, s)
  for lvl = L - 1, 0, -1 do
    local Cout = c.hidden_size * c.hidden_size_mult[lvl + 1]
    local p = "decoder.up." .. lvl
    for b = 0, c.num_res_blocks do
      s.dump = named(p .. ".block." .. b)
      x = vae.resblock(W, p .. ".block." .. b, x, Cout, BUFS, s)
    end
    if c.decoder_spatial_upsample[lvl + 1] ~= "" then
      local u = vae.upsample2x(W, p .. ".upsample.nearest", x, "a")
      x = vae.conv(W, p .. ".upsample.conv.conv", u, "x", Cout, { 1, 3, 3 }, vae.PAD2, { dump = named(p .. ".upsample") })
    end
    if c.decoder_temporal_upsample[lvl + 1] ~= "" then
      local u = vae.like(x, "a", { T = 2 * x.T - 1 })
      W:op("time_lerp2x", p .. ".time_upsample.lerp", { out = { buf = "a" }, src = { buf = "x" }, R = x.C, T = x.T,
        HW = x.H * x.W }, { x }, { u })
      local cv = vae.conv(W, p .. ".time_upsample.conv.conv", u, "b", Cout, { 3, 3, 3 }, vae.CAUSAL3, { replicate = true })
      x = vae.like(u, "x")
      local m = W.P:weight(p .. ".time_upsample.mix_factor", { 1 })
      W:op("mix", p .. ".time_upsample", { out = { buf = "x" }, a = { buf = "a" }, b = { buf = "b" }, m = { w = m },
        n = vae.elems(u), flip = 0 }, { u, cv }, { x }, { dump = named(p .. ".time_upsample") })
    end
  end
  x = vae.group_norm_silu(W, "decoder.norm_out", x, "a", M.GROUPS, M.EPS, false, { dump = named("decoder.norm_out") })
  return vae.conv(W, "decoder.conv_out.conv", x, out_buf or "b", 3, { 3, 3, 3 }, vae.CAUSAL3, { replicate = true,
    dump = out_dump or named("decoder.conv_out") })
end

-- post_quant_conv of z (on buffer "a") into "b", then the decoder (its output on out_buf).
local function decode(W, c, z, dump, dump_in, out_buf, out_dump)
  local x = vae.conv(W, "post_quant_conv.conv", z, "b", c.z_channels, vae.K1, vae.PAD0, { dump = dump_in })
  return decoder(W, c, x, dump, out_buf, out_dump)
end

function M.build(v)
  local d, c = v.dims, v.config
  local P = Program.new(v.storage, v.fail_size, M.PHASES, M.PHASE_DOC)
  P:use_dims(d, M.DIM_DOC)
  for _, p in ipairs({ "encoder.", "quant_conv.", "loss." }) do P:ignore_prefix(p, "not run by a decoder") end
  local W = vae.work(P, { "x", "a", "b", "s", "v" })
  local z, video = vae.decoder_io(W, d, "latents", "Tz", 24)
  W:op("scale", "latents_scaled", { out = { buf = "zs" }, src = { buf = "zs" }, n = vae.elems(z), k = M.SCALE, divide = 1 },
    { z }, { z }, { dump = "latents_scaled" })
  local tt = v.tile_table
  local S = P.schedule
  if not tt then
    S[#S + 1] = "decode schedule: one decoder call on the whole latent (" .. (v.tiling == "off" and "tiling off" or
      "the latent fits one tile") .. ")"
  else
    local t = v.tiling
    S[#S + 1] = string.format("decode schedule: tiles of %d latent rows and columns (%d px), %d latent frames, overlap %g: "
      .. "%d temporal chunks x %d x %d tiles = %d decoder calls; blend %d px, keep %d px", t[2], t[1], t[4], t[5],
      #tt.chunks, #tt.rows, #tt.cols, #tt.chunks * #tt.rows * #tt.cols, tt.E, tt.keep)
    local f0 = 0
    local _, frames = factors(c)
    for k, ch in ipairs(tt.chunks) do
      local n = frames(ch.t) - ch.drop
      S[#S + 1] = string.format("  chunk %d: latent frames %d-%d%s -> frames %d-%d", k - 1, ch.t0, ch.t0 + ch.t - 1,
        ch.drop > 0 and " (its first decoded frame dropped)" or "", f0, f0 + n - 1)
      f0 = f0 + n
    end
    local function spans(list, what)
      local parts = {}
      for _, s in ipairs(list) do parts[#parts + 1] = string.format("%d-%d", s.at, s.at + s.n - 1) end
      S[#S + 1] = string.format("  tile %s (latent): %s", what, table.concat(parts, ", "))
    end
    spans(tt.rows, "rows")
    spans(tt.cols, "columns")
  end
  if not tt then
    local x = vae.tensor("a", 1, d.Cz, d.Tz, d.h, d.w)
    vae.copy_frames(W, "untiled.z", z, 0, d.Tz, x, 0)
    local y = decode(W, c, x, "untiled.", "untiled.post_quant_conv")
    vae.copy_frames(W, "untiled.sample", y, 0, d.F, video, 0)
  else
    local call, f0 = 0, 0
    for _, ch in ipairs(tt.chunks) do
      local tiles = {} -- [row][col] = the tile's decoded tensor
      local y0 = 0
      for i, r in ipairs(tt.rows) do
        tiles[i] = {}
        for j, col in ipairs(tt.cols) do
          vae.progress(W, "DITC_PROGRESS_TILE", call, #tt.chunks * #tt.rows * #tt.cols)
          local x = vae.tensor("a", 1, d.Cz, ch.t, r.n, col.n)
          local hw = d.h * d.w
          -- the latent box [Cz, t, rows, cols] of zs [Cz, Tz, h, w]
          W:op("copy4", string.format("tiled.call%d.crop", call), { out = { buf = "a" }, src = { buf = "zs" },
            n0 = d.Cz, n1 = ch.t, n2 = r.n, n3 = col.n, os = ch.t0 * hw + r.at * d.w + col.at, s0 = d.Tz * hw, s1 = hw,
            s2 = d.w, s3 = 1, od = 0, d0 = ch.t * r.n * col.n, d1 = r.n * col.n, d2 = col.n, d3 = 1 }, { z }, { x })
          local pre = string.format("tiled.call%d.", call)
          -- each tile decoded straight into its own buffer, kept until its neighbours have blended
          local tb = W:track(string.format("tile%d_%d", i - 1, j - 1))
          tiles[i][j] = decode(W, c, x, nil, pre .. "decoder_in", tb, pre .. "decoder_out")
          call = call + 1
        end
      end
      -- blend in raster order, in place, then keep each tile's top-left keep x keep
      local T = tiles[1][1].T
      local Tk = T - ch.drop
      for i = 1, #tt.rows do
        local xo = 0
        for j = 1, #tt.cols do
          local t = tiles[i][j]
          if i > 1 then
            local a = tiles[i - 1][j]
            W:op("tile_blend", string.format("%s.blend_v", t.buf), { b = { buf = t.buf }, a = { buf = a.buf }, R = 3 * T,
              Ha = a.H, Wa = a.W, Hb = t.H, Wb = t.W, E = tt.E, axis = 0 }, { t, a }, { t })
          end
          if j > 1 then
            local a = tiles[i][j - 1]
            W:op("tile_blend", string.format("%s.blend_h", t.buf), { b = { buf = t.buf }, a = { buf = a.buf }, R = 3 * T,
              Ha = a.H, Wa = a.W, Hb = t.H, Wb = t.W, E = tt.E, axis = 1 }, { t, a }, { t })
          end
          local kh, kw = math.min(tt.keep, t.H), math.min(tt.keep, t.W)
          -- frames drop.. of the tile's [3, T, kh, kw] corner into the video at (f0, y0, xo)
          W:op("copy4", string.format("%s.place", t.buf), { out = { buf = "video" }, src = { buf = t.buf }, n0 = 3, n1 = Tk,
            n2 = kh, n3 = kw, os = ch.drop * t.H * t.W, s0 = T * t.H * t.W, s1 = t.H * t.W, s2 = t.W, s3 = 1,
            od = f0 * d.H * d.W + y0 * d.W + xo, d0 = d.F * d.H * d.W, d1 = d.H * d.W, d2 = d.W, d3 = 1 }, { t }, { video })
          xo = xo + kw
        end
        y0 = y0 + math.min(tt.keep, tiles[i][1].H)
      end
      f0 = f0 + Tk
    end
  end
  vae.finish(W, video, vae.TRUNCATE)
  return P
end

return M
