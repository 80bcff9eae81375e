"""tests/ref/vae_ops.py: the building blocks of the NumPy VAE reference (tests/ref/vae_ref.py):
convolutions with each family's padding, GroupNorm, SiLU, one-image attention, the resampling steps,
the tile blend and the three uint8 rules. Not a decoder itself (tests/ref/vae_models.py is), and
not a model of upstream's bf16/fp16 numerics.

Precision: every tensor between two ops is float32 (N C T H W, the PyTorch layout); inside an op
the sums (convolution taps, GroupNorm statistics, attention) run in float64 and the result is
rounded to float32 once. The steps whose float32 rounding is part of upstream's definition (the
latent scalings, the tile blend weights, the uint8 rules) are done in float32 op by op, as upstream
does them in an fp32 run.
"""
import math

import numpy as np

F32, F64 = np.float32, np.float64
COL_BYTES = 48 << 20        # im2col slab limit: a convolution over a big tensor runs in frame slabs


# ---------------------------------------------------------------------------------------------------
# convolution
def conv(x, w, b=None, t_pad=(0, 0), hw_pad=0, t_mode="zeros"):
    """Cross-correlation, stride 1. x [N, Cin, T, H, W]; w [Cout, Cin, kt, kh, kw], [Cout, Cin, kh, kw]
    (kt = 1) or [Cout, Cin] (1x1x1); b [Cout] or None. t_pad = (front, back) frames, zeros or
    (t_mode "replicate") copies of frame 0 in front; hw_pad zeros on both sides of H and W.
    Returns [N, Cout, T + front + back - kt + 1, H + 2 hw_pad - kh + 1, ...] float32."""
    w = np.asarray(w)
    if w.ndim == 2:
        w = w[:, :, None, None, None]
    elif w.ndim == 4:
        w = w[:, :, None]
    Cout, Cin, kt, kh, kw = w.shape
    N, C, T, H, W = x.shape
    assert C == Cin, f"conv: input has {C} channels, weight expects {Cin}"
    front, back = t_pad
    if front or back or hw_pad:
        xp = np.zeros((N, C, T + front + back, H + 2 * hw_pad, W + 2 * hw_pad), F32)
        xp[:, :, front:front + T, hw_pad:hw_pad + H, hw_pad:hw_pad + W] = x
        if t_mode == "replicate" and front:
            xp[:, :, :front] = xp[:, :, front:front + 1]
    else:
        xp = x
    To, Ho, Wo = xp.shape[2] - kt + 1, xp.shape[3] - kh + 1, xp.shape[4] - kw + 1
    K = kt * kh * kw
    wm = w.reshape(Cout, Cin * K).astype(F64)                       # [Cout, Cin*K], tap order (dt, dh, dw)
    out = np.empty((N, Cout, To, Ho, Wo), F32)
    unit = 8 * Cin * K * Ho * Wo                                    # im2col bytes per output frame
    if N * To * unit <= COL_BYTES:
        parts = [(0, N, 0, To)]
    else:                                                           # per sample, in frame slabs
        slab = max(1, min(To, COL_BYTES // unit))
        parts = [(n, n + 1, t0, min(slab, To - t0)) for n in range(N) for t0 in range(0, To, slab)]
    for n0, n1, t0, ts in parts:
        cols = np.empty((n1 - n0, Cin, K, ts, Ho, Wo), F64)         # im2col of frames t0 .. t0+ts-1
        k = 0
        for dt in range(kt):
            for dh in range(kh):
                for dw in range(kw):
                    cols[:, :, k] = xp[n0:n1, :, t0 + dt:t0 + dt + ts, dh:dh + Ho, dw:dw + Wo]
                    k += 1
        y = np.matmul(wm, cols.reshape(n1 - n0, Cin * K, ts * Ho * Wo))   # [n, Cout, ts*Ho*Wo]
        if b is not None:
            y += np.asarray(b, F64)[None, :, None]
        out[n0:n1, :, t0:t0 + ts] = y.reshape(n1 - n0, Cout, ts, Ho, Wo)
    return out


def causal_conv_zeros(x, w, b=None):
    """Open-Sora's temporal-VAE CausalConv3d: kt-1 zero frames in front, k//2 zeros around H, W."""
    kt, kh = w.shape[2], w.shape[3]
    return conv(x, w, b, t_pad=(kt - 1, 0), hw_pad=kh // 2)


def causal_conv_replicate(x, w, b=None, hw_pad=None):
    """Open-Sora-Plan's CausalConv3d: kt-1 copies of frame 0 in front, zero H/W padding (1 for the
    3x3 kernels, 0 for 1x1x1)."""
    kt, kh = w.shape[2], w.shape[3]
    return conv(x, w, b, t_pad=(kt - 1, 0), hw_pad=kh // 2 if hw_pad is None else hw_pad, t_mode="replicate")


# ---------------------------------------------------------------------------------------------------
# pointwise and normalisation
def silu(x):
    x = np.asarray(x, F64)
    with np.errstate(over="ignore"):
        return (x / (1.0 + np.exp(-x))).astype(F32)


def sigmoid32(m):
    """sigmoid of a learned scalar ([1] tensor), as a float32 value."""
    return F32(1.0 / (1.0 + math.exp(-float(np.asarray(m).reshape(-1)[0]))))


def group_norm(x, gamma, beta, groups, eps):
    """GroupNorm of x [N, C, T, H, W]: statistics over (C/groups) x T x H x W per sample, biased
    variance, then the per-channel affine. A 2-D GroupNorm over frames is this with the frames in N."""
    N, C = x.shape[:2]
    assert C % groups == 0, f"group_norm: {C} channels are not divisible into {groups} groups"
    xr = np.asarray(x, F64).reshape(N, groups, -1)
    mu = xr.mean(-1, keepdims=True)
    var = np.square(xr - mu).mean(-1, keepdims=True)
    y = ((xr - mu) / np.sqrt(var + eps)).reshape(x.shape)
    shape = (1, C) + (1,) * (x.ndim - 2)
    return (y * np.asarray(gamma, F64).reshape(shape) + np.asarray(beta, F64).reshape(shape)).astype(F32)


def add(a, b):
    return (np.asarray(a, F64) + np.asarray(b, F64)).astype(F32)


def mix(alpha, a, b):
    """alpha * a + (1 - alpha) * b with alpha a float32 scalar (1 - alpha rounded to float32 first)."""
    one_minus = F32(1) - F32(alpha)
    return (F64(alpha) * np.asarray(a, F64) + F64(one_minus) * np.asarray(b, F64)).astype(F32)


# ---------------------------------------------------------------------------------------------------
# attention over the H*W tokens of every (sample, frame)
def frame_attention(hn, wq, bq, wk, bk, wv, bv, wo, bo):
    """hn [N, C, T, H, W] (already normalised); one head of width C, scale C^-0.5, softmax over the
    H*W keys of the same image; q/k/v/out projections [C, C] (+ bias). Returns the projected output
    [N, C, T, H, W] float32 (without the residual)."""
    N, C, T, H, W = hn.shape
    tok = np.asarray(hn, F64).transpose(0, 2, 3, 4, 1).reshape(N * T, H * W, C)   # [(N T), HW, C]
    lin = lambda t, w_, b_: t @ np.asarray(w_, F64).reshape(C, C).T + np.asarray(b_, F64)  # noqa: E731
    q, k, v = lin(tok, wq, bq), lin(tok, wk, bk), lin(tok, wv, bv)
    s = (q @ k.transpose(0, 2, 1)) / math.sqrt(C)                                   # [(N T), HW, HW]
    s -= s.max(-1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(-1, keepdims=True)
    o = lin(p @ v, wo, bo)                                                          # [(N T), HW, C]
    return o.reshape(N, T, H, W, C).transpose(0, 4, 1, 2, 3).astype(F32)


# ---------------------------------------------------------------------------------------------------
# resampling
def upsample_nearest2x(x):
    """x [N, C, T, H, W] -> [N, C, T, 2H, 2W], every pixel repeated 2x2."""
    return x.repeat(2, axis=3).repeat(2, axis=4)


def depth_to_time(x, ts=2):
    """[N, C*ts, T, H, W] -> [N, C, T*ts, H, W]: channel c*ts + s becomes frame t*ts + s of channel c."""
    N, Cts, T, H, W = x.shape
    C = Cts // ts
    return x.reshape(N, C, ts, T, H, W).transpose(0, 1, 3, 2, 4, 5).reshape(N, C, T * ts, H, W)


def time_lerp2x(x):
    """Open-Sora-Plan: frame 0 kept, frames 1.. upsampled 2x along T by linear interpolation with
    half-pixel centres (align_corners false, edges clamped): [N, C, T, H, W] -> [N, C, 2T-1, H, W]."""
    T = x.shape[2]
    if T == 1:
        return x.copy()
    rest = np.asarray(x[:, :, 1:], F64)
    n = T - 1
    frames = [np.asarray(x[:, :, :1], F64)]
    for i in range(2 * n):
        src = max((i + 0.5) / 2.0 - 0.5, 0.0)
        i0 = int(math.floor(src))
        i1 = min(i0 + 1, n - 1)
        lam = src - i0
        frames.append((1.0 - lam) * rest[:, :, i0:i0 + 1] + lam * rest[:, :, i1:i1 + 1])
    return np.concatenate(frames, axis=2).astype(F32)


# ---------------------------------------------------------------------------------------------------
# Open-Sora-Plan's tile blending (in place, float32 op by op as upstream)
def blend_v(a, b, extent):
    """Rows y < e of b become a[..., Ha - e + y, :] * (1 - y/e) + b[..., y, :] * (y/e), e = min(Ha, Hb, extent)."""
    e = min(a.shape[3], b.shape[3], extent)
    for y in range(e):
        b[:, :, :, y, :] = a[:, :, :, a.shape[3] - e + y, :] * F32(1 - y / e) + b[:, :, :, y, :] * F32(y / e)
    return b


def blend_h(a, b, extent):
    """blend_v along W."""
    e = min(a.shape[4], b.shape[4], extent)
    for x in range(e):
        b[:, :, :, :, x] = a[:, :, :, :, a.shape[4] - e + x] * F32(1 - x / e) + b[:, :, :, :, x] * F32(x / e)
    return b


# ---------------------------------------------------------------------------------------------------
# uint8 frames (float32 op by op, as upstream's fp32 run)
def to_u8_round(x):
    """Open-Sora: clamp to [-1, 1], (x + 1) / 2, * 255, + 0.5, clamp to [0, 255], truncate."""
    v = np.clip(np.asarray(x, F32), F32(-1), F32(1))
    v = (v - F32(-1)) / F32(2)
    v = np.clip(v * F32(255) + F32(0.5), F32(0), F32(255))
    return v.astype(np.uint8)


def to_u8_trunc(x):
    """Latte, Open-Sora-Plan: x / 2 + 0.5, clamp to [0, 1], * 255, truncate (no rounding)."""
    v = np.clip(np.asarray(x, F32) / F32(2) + F32(0.5), F32(0), F32(1)) * F32(255)
    return v.astype(np.uint8)


def u8_pre_trunc(x, rule):
    """The float32 value each uint8 rule truncates (to tell a rounding boundary)."""
    x = np.asarray(x, F32)
    if rule == "round":
        v = (np.clip(x, F32(-1), F32(1)) - F32(-1)) / F32(2)
        return np.clip(v * F32(255) + F32(0.5), F32(0), F32(255))
    return np.clip(x / F32(2) + F32(0.5), F32(0), F32(1)) * F32(255)
