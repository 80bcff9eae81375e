"""tests/ref/vae_models.py: the three video VAE decoders of the NumPy reference with upstream's
chunking and tiling: Open-Sora 1.2 (5-latent-frame micro chunks through VAE_Temporal, then the 2-D
AutoencoderKL per frame), Latte-1 (AutoencoderKLTemporalDecoder over 14-frame chunks) and
Open-Sora-Plan v1.1.0 (CausalVAEModel, temporal chunks and blended spatial tiles, or untiled).
Written from a description of upstream's decode paths, not from upstream code. Decode only.

Each decode_* returns (sample [B, C, T, H, W] float32, intermediates): the intermediates carry the
upstream fixtures' names (tests/golden/README-vae.md): every chunk / tile call, and the block
outputs of the first chunk, the first frame or the untiled decode. Configs and tensor names:
tests/ref/vae_config.py; ops: tests/ref/vae_ops.py.
"""
import numpy as np

import vae_ops as op
from vae_config import SD_DIVISOR, ConfigError
from vae_ops import F32


def _rec(store, prefix, view=None):
    """A recorder: rec(name, x) keeps view(x) under prefix + name; store None records nothing."""
    def rec(name, x):
        if store is not None:
            store[prefix + name] = x if view is None else view(x)
    return rec


FRAMES = lambda x: x[:, :, 0]          # noqa: E731  (n, C, 1, H, W) images -> (n, C, H, W)


# ---------------------------------------------------------------------------------------------------
# diffusers 2-D blocks; images are [n, C, 1, H, W] (the frames in N)
def resnet2d(w, p, x, groups):
    """ResnetBlock2D without a time embedding: eps 1e-6, 3x3 convs, 1x1 conv_shortcut when Cin != Cout."""
    h = op.conv(op.silu(op.group_norm(x, w[p + "norm1.weight"], w[p + "norm1.bias"], groups, 1e-6)),
                w[p + "conv1.weight"], w[p + "conv1.bias"], hw_pad=1)
    h = op.conv(op.silu(op.group_norm(h, w[p + "norm2.weight"], w[p + "norm2.bias"], groups, 1e-6)),
                w[p + "conv2.weight"], w[p + "conv2.bias"], hw_pad=1)
    s = x if x.shape[1] == h.shape[1] else op.conv(x, w[p + "conv_shortcut.weight"], w[p + "conv_shortcut.bias"])
    return op.add(s, h)


def attention2d(w, p, x, groups):
    """diffusers Attention of the mid block: GroupNorm (eps 1e-6), one head over the image, + x."""
    hn = op.group_norm(x, w[p + "group_norm.weight"], w[p + "group_norm.bias"], groups, 1e-6)
    o = op.frame_attention(hn, *(w[p + n + s] for n in ("to_q", "to_k", "to_v", "to_out.0")
                                 for s in (".weight", ".bias")))
    return op.add(x, o)


def st_resnet(w, p, x, rec):
    """Latte's SpatioTemporalResBlock over one chunk x [n, C, 1, H, W]: a 2-D resnet per frame, a
    temporal resnet over the chunk ((3,1,1) convs, zero pad 1 both sides, GroupNorm(32, eps 1e-5)
    over the whole chunk), mixed by a = 1 - sigmoid(mix_factor): a * spatial + (1 - a) * temporal."""
    hs = resnet2d(w, p + "spatial_res_block.", x, 32)
    rec(p + "spatial_res_block", FRAMES(hs))
    h5 = hs.transpose(2, 1, 0, 3, 4)                                  # [1, C, n, H, W]
    q = p + "temporal_res_block."
    h = h5
    for i in ("1", "2"):
        h = op.silu(op.group_norm(h, w[q + "norm" + i + ".weight"], w[q + "norm" + i + ".bias"], 32, 1e-5))
        h = op.conv(h, w[q + "conv" + i + ".weight"], w[q + "conv" + i + ".bias"], t_pad=(1, 1))
    ht = op.add(h5, h)
    rec(p + "temporal_res_block", ht)
    a = F32(1) - op.sigmoid32(w[p + "time_mixer.mix_factor"])
    return op.mix(a, h5, ht).transpose(2, 1, 0, 3, 4)


def decoder2d(w, p, c, x, temporal, rec):
    """diffusers Decoder (temporal False: Open-Sora's 2-D VAE, c['groups'] groups) or TemporalDecoder
    (temporal True: Latte; 32 groups, one chunk). x [n, Cin, 1, h, w] -> [n, Cout, 1, H, W]. Image
    outputs are recorded as [n, C, H, W], the temporal parts as [1, C, n, H, W]."""
    groups = 32 if temporal else c["groups"]
    res = (lambda q, y: st_resnet(w, q, y, rec)) if temporal else (lambda q, y: resnet2d(w, q, y, groups))
    x = op.conv(x, w[p + "conv_in.weight"], w[p + "conv_in.bias"], hw_pad=1)
    rec(p + "conv_in", FRAMES(x))
    m = p + "mid_block."
    x = res(m + "resnets.0.", x)
    rec(m + "resnets.0", FRAMES(x))
    # the mid block pairs resnets[1:] with its attentions; TemporalDecoder has one attention, so only
    # resnets.1 runs after it (layers_per_block 1: no attention; > 2: the extra resnets are unused)
    if (temporal and c["layers"] >= 2) or not temporal:
        if temporal or c["mid_attn"]:
            x = attention2d(w, m + "attentions.0.", x, 32 if temporal else groups)
            rec(m + "attentions.0", FRAMES(x))
        x = res(m + "resnets.1.", x)
        rec(m + "resnets.1", FRAMES(x))
    rec(p + "mid_block", FRAMES(x))
    for i in range(len(c["boc"])):
        for j in range(c["layers"] + 1):
            q = p + "up_blocks.%d.resnets.%d" % (i, j)
            x = res(q + ".", x)
            rec(q, FRAMES(x))
        if i < len(c["boc"]) - 1:
            q = p + "up_blocks.%d.upsamplers.0" % i
            x = op.conv(op.upsample_nearest2x(x), w[q + ".conv.weight"], w[q + ".conv.bias"], hw_pad=1)
            rec(q, FRAMES(x))
    x = op.group_norm(x, w[p + "conv_norm_out.weight"], w[p + "conv_norm_out.bias"], groups, 1e-6)
    rec(p + "conv_norm_out", FRAMES(x))
    x = op.conv(op.silu(x), w[p + "conv_out.weight"], w[p + "conv_out.bias"], hw_pad=1)
    rec(p + "conv_out", FRAMES(x))
    if temporal:
        v = op.conv(x.transpose(2, 1, 0, 3, 4), w[p + "time_conv_out.weight"], w[p + "time_conv_out.bias"],
                    t_pad=(1, 1))
        rec(p + "time_conv_out", v)                                   # [1, Cout, n, H, W]
        x = v.transpose(2, 1, 0, 3, 4)
    return x


# ---------------------------------------------------------------------------------------------------
# Open-Sora 1.2
def opensora_latent_frames(cfg, num_frames):
    """Latent frames the DiT makes for num_frames video frames (VAE_Temporal.get_latent_size per chunk)."""
    f = 2 ** sum(cfg["temporal"]["tds"])
    mfs = cfg["micro_frame_size"]
    if mfs is None:
        return -(-num_frames // f)
    return (num_frames // mfs) * -(-mfs // f) + -(-(num_frames % mfs) // f)


def temporal_decode(w, t, z, n, rec):
    """VAE_Temporal.decode of one chunk z [B, embed, tz, h, w] for n frames: post_quant_conv, the causal
    3-D decoder (zero padding in front), then the first (f - n % f) % f frames dropped."""
    f = 2 ** sum(t["tds"])
    pad = 0 if n % f == 0 else f - n % f
    p = "temporal_vae."
    x = op.causal_conv_zeros(z, w[p + "post_quant_conv.conv.weight"], w[p + "post_quant_conv.conv.bias"])
    rec("post_quant_conv", x)
    p += "decoder."

    def resblock(q, x):
        h = x
        for i in ("1", "2"):
            h = op.group_norm(h, w[q + ".norm" + i + ".weight"], w[q + ".norm" + i + ".bias"], t["groups"], 1e-5)
            h = op.causal_conv_zeros(op.silu(h), w[q + ".conv" + i + ".conv.weight"])
        s = x if x.shape[1] == h.shape[1] else op.causal_conv_zeros(x, w[q + ".conv3.conv.weight"])
        return op.add(h, s)

    x = op.causal_conv_zeros(x, w[p + "conv1.conv.weight"], w[p + "conv1.conv.bias"])
    rec("decoder.conv1", x)
    for r in range(t["res"]):
        x = resblock(p + "res_blocks.%d" % r, x)
        rec("decoder.res_blocks.%d" % r, x)
    for i in reversed(range(len(t["mult"]))):
        for j in range(t["res"]):
            x = resblock(p + "block_res_blocks.%d.%d" % (i, j), x)
            rec("decoder.block_res_blocks.%d.%d" % (i, j), x)
        if i > 0 and t["tds"][i - 1]:
            q = "conv_blocks.%d" % (i - 1)
            x = op.causal_conv_zeros(x, w[p + q + ".conv.weight"], w[p + q + ".conv.bias"])
            rec("decoder." + q, x)                                    # before depth-to-time
            x = op.depth_to_time(x, 2)
    x = op.group_norm(x, w[p + "norm1.weight"], w[p + "norm1.bias"], t["groups"], 1e-5)
    rec("decoder.norm1", x)
    x = op.causal_conv_zeros(op.silu(x), w[p + "conv_out.conv.weight"], w[p + "conv_out.conv.bias"])
    rec("decoder.conv_out", x)
    return x[:, :, pad:]


def decode_opensora(w, cfg, z, num_frames, inter=None):
    """VideoAutoencoderPipeline.decode(z, num_frames): z [B, embed, Tz, h, w] (the DiT's latent)."""
    B, _, Tz, h, wd = z.shape
    t = cfg["temporal"]
    f, mfs = 2 ** sum(t["tds"]), cfg["micro_frame_size"]
    mz = Tz if mfs is None else -(-mfs // f)                          # latent frames per micro chunk
    if num_frames is None:      # the most frames this latent decodes to
        num_frames = f * Tz if mfs is None else (Tz // mz) * mfs + (Tz % mz) * f
    if opensora_latent_frames(cfg, num_frames) != Tz:
        raise ConfigError(f"{num_frames} frames need {opensora_latent_frames(cfg, num_frames)} latent frames, "
                          f"the latent has {Tz}")
    inter = {} if inter is None else inter
    if not cfg["cal_loss"]:
        z = z.astype(F32) * w["scale"] + w["shift"]                  # float32 multiply, then add
    inter["z_unnormalized"] = z
    parts, left = [], num_frames
    for k, i in enumerate(range(0, Tz, mz)):
        n = left if mfs is None else min(mfs, left)
        zc = z[:, :, i:i + mz]
        out = temporal_decode(w, t, zc, n, _rec(inter if k == 0 else None, "temporal.chunk0."))
        inter["temporal.chunk%d.z" % k] = zc
        inter["temporal.chunk%d.num_frames" % k] = np.array([n], np.int64)
        inter["temporal.chunk%d.out" % k] = out
        parts.append(out)
        left -= mfs if mfs is not None else n
    x_z = np.concatenate(parts, axis=2)                               # [B, C, F, h, w]
    inter["x_z"] = x_z
    F = x_z.shape[2]
    frames = x_z.transpose(0, 2, 1, 3, 4).reshape(B * F, x_z.shape[1], 1, h, wd)   # (B T) images
    mb = cfg["micro_batch_size"] or B * F
    x = frames / F32(SD_DIVISOR)
    inter["spatial.mb0.in"] = FRAMES(x[:mb])                         # AutoencoderKL.decode's input
    s, p = cfg["spatial"], "spatial_vae.module."
    rec = _rec(inter, "spatial.frame0.", lambda a: a[0:1])
    if s["post_quant"]:
        x = op.conv(x, w[p + "post_quant_conv.weight"], w[p + "post_quant_conv.bias"])
        rec("post_quant_conv", FRAMES(x))
    x = decoder2d(w, p + "decoder.", s, x, False, lambda name, a: rec(name[len(p):], a))
    inter["spatial.mb0.out"] = FRAMES(x[:mb])
    sample = FRAMES(x).reshape(B, F, x.shape[1], x.shape[3], x.shape[4]).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(sample), inter


# ---------------------------------------------------------------------------------------------------
# Latte-1
def decode_latte(w, cfg, latents, inter=None):
    """LattePipeline.decode_latents_with_temporal_decoder: latents [b, C, f, h, w] times
    1/scaling_factor (a float32 multiply), flattened to (b f) images, decoded in chunks of 14 images
    (each chunk one video for the temporal parts)."""
    inter = {} if inter is None else inter
    B, C, Fr, h, wd = latents.shape
    ls = latents.astype(F32) * F32(1 / cfg["scaling_factor"])
    inter["latents_scaled"] = ls
    x = ls.transpose(0, 2, 1, 3, 4).reshape(B * Fr, C, 1, h, wd)
    outs = []
    for k, i in enumerate(range(0, B * Fr, 14)):
        zc = x[i:i + 14]
        y = decoder2d(w, "decoder.", cfg, zc, True, _rec(inter if k == 0 else None, "chunk0."))
        inter["chunk%d.z" % k] = FRAMES(zc)
        inter["chunk%d.num_frames" % k] = np.array([len(zc)], np.int64)
        inter["chunk%d.sample" % k] = FRAMES(y)
        outs.append(FRAMES(y))
    video = np.concatenate(outs)                                      # [(b f), 3, H, W]
    sample = video.reshape(B, Fr, *video.shape[1:]).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(sample), inter


# ---------------------------------------------------------------------------------------------------
# Open-Sora-Plan v1.1.0
def osp_resnet(w, p, x):
    """ResnetBlock3D: GroupNorm(32, eps 1e-6), SiLU, causal 3x3x3 (first frame replicated), twice;
    1x1x1 nin_shortcut when Cin != Cout."""
    h = x
    for i in ("1", "2"):
        h = op.silu(op.group_norm(h, w[p + "norm" + i + ".weight"], w[p + "norm" + i + ".bias"], 32, 1e-6))
        h = op.causal_conv_replicate(h, w[p + "conv" + i + ".conv.weight"], w[p + "conv" + i + ".conv.bias"])
    s = x if x.shape[1] == h.shape[1] else op.causal_conv_replicate(
        x, w[p + "nin_shortcut.conv.weight"], w[p + "nin_shortcut.conv.bias"])
    return op.add(s, h)


def osp_decoder(w, cfg, z, rec):
    """CausalVAEModel's Decoder on z [B, z_channels, t, h, w] (after post_quant_conv)."""
    p = "decoder."
    x = op.causal_conv_replicate(z, w[p + "conv_in.conv.weight"], w[p + "conv_in.conv.bias"])
    rec("decoder.conv_in", x)
    x = osp_resnet(w, p + "mid.block_1.", x)
    rec("decoder.mid.block_1", x)
    q = p + "mid.attn_1."
    hn = op.group_norm(x, w[q + "norm.weight"], w[q + "norm.bias"], 32, 1e-6)
    x = op.add(x, op.frame_attention(hn, *(w[q + n + ".conv" + s] for n in ("q", "k", "v", "proj_out")
                                           for s in (".weight", ".bias"))))
    rec("decoder.mid.attn_1", x)
    x = osp_resnet(w, p + "mid.block_2.", x)
    rec("decoder.mid.block_2", x)
    for lvl in reversed(range(len(cfg["mult"]))):
        q = p + "up.%d." % lvl
        for b in range(cfg["res"] + 1):
            x = osp_resnet(w, q + "block.%d." % b, x)
            rec(q + "block.%d" % b, x)
        if cfg["su"][lvl]:
            x = op.causal_conv_replicate(op.upsample_nearest2x(x), w[q + "upsample.conv.conv.weight"],
                                         w[q + "upsample.conv.conv.bias"])
            rec(q + "upsample", x)
        if cfg["tu"][lvl]:
            a = op.sigmoid32(w[q + "time_upsample.mix_factor"])
            if x.shape[2] > 1:
                x = op.time_lerp2x(x)
            c = op.causal_conv_replicate(x, w[q + "time_upsample.conv.conv.weight"],
                                         w[q + "time_upsample.conv.conv.bias"])
            x = op.mix(a, x, c)
            rec(q + "time_upsample", x)
    x = op.group_norm(x, w[p + "norm_out.weight"], w[p + "norm_out.bias"], 32, 1e-6)
    rec("decoder.norm_out", x)
    x = op.causal_conv_replicate(op.silu(x), w[p + "conv_out.conv.weight"], w[p + "conv_out.conv.bias"])
    rec("decoder.conv_out", x)
    return x


def osp_post_quant(w, z):
    return op.causal_conv_replicate(z, w["post_quant_conv.conv.weight"], w["post_quant_conv.conv.bias"])


def osp_tiles(tiling, t):
    """The temporal chunks [start, end) of CausalVAEModel.tiled_decode for t latent frames."""
    step = tiling["tile_latent_min_size_t"] - 1
    if step < 1:
        raise ConfigError("tile_latent_min_size_t must be at least 2")
    idx = list(range(0, t, step))
    if len(idx) == 1 and idx[0] == 0:
        return [[0, t]]
    se = [[idx[i], idx[i + 1] + 1] for i in range(len(idx) - 1)]
    if se[-1][-1] > t:
        se[-1][-1] = t
    elif se[-1][-1] < t:
        se.append([idx[-1], t])
    return se


def osp_tiled2d(w, cfg, tiling, z, inter, calls):
    """tiled_decode2d: overlapping latent tiles, each decoded alone, blended in place in raster order
    (upper neighbour, then left), each cropped to its kept part."""
    Ls, Ss, f = tiling["tile_latent_min_size"], tiling["tile_sample_min_size"], tiling["tile_overlap_factor"]
    step, extent = int(Ls * (1 - f)), int(Ss * f)
    keep = Ss - extent
    if step < 1:
        raise ConfigError("tile_latent_min_size * (1 - tile_overlap_factor) must be at least 1")
    rows = []
    for i in range(0, z.shape[3], step):
        row = []
        for j in range(0, z.shape[4], step):
            d_in = osp_post_quant(w, z[:, :, :, i:i + Ls, j:j + Ls])
            d_out = osp_decoder(w, cfg, d_in, _rec(None, ""))
            inter["tiled.call%d.decoder_in" % len(calls)] = d_in
            inter["tiled.call%d.decoder_out" % len(calls)] = d_out.copy()
            calls.append(1)
            row.append(d_out)
        rows.append(row)
    out_rows = []
    for i, row in enumerate(rows):
        kept = []
        for j, tile in enumerate(row):
            if i > 0:
                tile = op.blend_v(rows[i - 1][j], tile, extent)
            if j > 0:
                tile = op.blend_h(row[j - 1], tile, extent)
            kept.append(tile[:, :, :, :keep, :keep])
        out_rows.append(np.concatenate(kept, axis=4))
    return np.concatenate(out_rows, axis=3)


def decode_osp(w, cfg, latents, tiling, inter=None):
    """OpenSoraPlanPipeline.decode_latents through the wrapper: latents / 0.18215 (float32 divide),
    then CausalVAEModel.decode: tiled (tiling a dict of the five tile parameters, used when the latent
    exceeds a tile) or one decoder call (tiling None, recorded as untiled.*). Returns B C T H W."""
    inter = {} if inter is None else inter
    z = latents.astype(F32) / F32(SD_DIVISOR)
    inter["latents_scaled"] = z
    t, h, wd = z.shape[2:]
    if tiling is not None and (wd > tiling["tile_latent_min_size"] or h > tiling["tile_latent_min_size"]
                               or t > tiling["tile_latent_min_size_t"]):
        calls, parts = [], []
        for k, (s, e) in enumerate(osp_tiles(tiling, t)):
            d = osp_tiled2d(w, cfg, tiling, z[:, :, s:e], inter, calls)
            parts.append(d if k == 0 else d[:, :, 1:])
        return np.concatenate(parts, axis=2), inter
    rec = _rec(inter, "untiled.")
    x = osp_post_quant(w, z)
    rec("post_quant_conv", x)
    return osp_decoder(w, cfg, x, rec), inter


TILING_KEYS = ("tile_sample_min_size", "tile_latent_min_size", "tile_sample_min_size_t", "tile_latent_min_size_t",
               "tile_overlap_factor")
PIPELINE_TILING = dict(zip(TILING_KEYS, (512, 64, 29, 8, 0.25)))     # what OpenSoraPlanPipeline sets


def parse_tiling(text):
    """'off', or SAMPLE,LATENT,SAMPLE_T,LATENT_T,OVERLAP -> None or the tiling dict."""
    if text == "off":
        return None
    v = text.split(",")
    if len(v) != 5:
        raise ConfigError("--tiling takes off or SAMPLE,LATENT,SAMPLE_T,LATENT_T,OVERLAP")
    try:
        return dict(zip(TILING_KEYS, [int(a) for a in v[:4]] + [float(v[4])]))
    except ValueError:
        raise ConfigError(f"--tiling {text}: four integers and a number expected") from None
