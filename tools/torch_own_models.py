"""tools/torch_own_models.py: the self-contained PyTorch forward of STDiT3 (Open-Sora 1.2) and
LatteT2V (Latte-1) that tools/torch_baseline.py runs when VideoSys' own classes do not import
(its "own" mode): the same math as docs/upstream.md#open-sora-12 and #latte-1, the checkpoint's tensor
names, torch's scaled_dot_product_attention. Not a reference for ditc's tests (tests/ref is), and
no PAB: the baseline is the all-compute forward.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---- own forward: shared pieces --------------------------------------------------------------

def modulate(x, shift, scale):
    return x * (1 + scale) + shift


def timestep_freq(t, dim=256):
    """Sinusoidal embedding, cos first (Open-Sora TimestepEmbedder = diffusers Timesteps(flip))."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def sincos_1d(dim, pos):
    """[len(pos), dim]: sin then cos of pos * 10000^(-k/(dim/2)) (float64, as numpy upstream)."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0))
    out = pos.reshape(-1).double()[:, None] * omega[None]
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1)


def linears(parent, **shapes):
    for name, (i, o) in shapes.items():
        setattr(parent, name, nn.Linear(i, o))
    return parent


def time_mlp(C):
    return nn.Sequential(nn.Linear(256, C), nn.SiLU(), nn.Linear(C, C))


def attention(q, k, v):
    """q [b, n, H, d], k/v [b, m, H, d] -> [b, n, H*d]"""
    o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    return o.transpose(1, 2).flatten(2)


class RMSNorm(nn.Module):
    """LlamaRMSNorm over the head dim (eps 1e-6), the qk-norm of STDiT3."""

    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        x32 = x.float()
        return self.weight * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + 1e-6)).to(x.dtype)

# ---- own forward: STDiT3 (Open-Sora 1.2) -------------------------------------------------------

class OwnSTDiT3Block(nn.Module):
    def __init__(self, C, heads, hidden, temporal):
        super().__init__()
        self.temporal, self.heads = temporal, heads
        self.scale_shift_table = nn.Parameter(torch.zeros(6, C))
        self.attn = linears(nn.Module(), qkv=(C, 3 * C), proj=(C, C))
        self.attn.q_norm, self.attn.k_norm = RMSNorm(C // heads), RMSNorm(C // heads)
        self.cross_attn = linears(nn.Module(), q_linear=(C, C), kv_linear=(C, 2 * C), proj=(C, C))
        self.mlp = linears(nn.Module(), fc1=(C, hidden), fc2=(hidden, C))

    def forward(self, x, y, t_mlp, T, S, rope):
        """x [B, T*S, C], y [B, L, C], t_mlp [B, 6C], rope (cos, sin) [T, D]"""
        B, N, C = x.shape
        H = self.heads
        sh1, sc1, g1, sh2, sc2, g2 = (self.scale_shift_table[None] + t_mlp.view(B, 6, C)).chunk(6, dim=1)
        h = modulate(F.layer_norm(x, (C,), eps=1e-6), sh1, sc1)
        h = h.view(B, T, S, C).transpose(1, 2).reshape(B * S, T, C) if self.temporal else h.view(B * T, S, C)
        q, k, v = self.attn.qkv(h).view(h.shape[0], h.shape[1], 3, H, C // H).unbind(2)  # [b, n, H, D]
        q, k = self.attn.q_norm(q), self.attn.k_norm(k)
        if self.temporal:  # interleaved-pair RoPE over the frame index
            cos, sin = rope[0][:, None], rope[1][:, None]
            q, k = (z * cos + torch.stack([-z[..., 1::2], z[..., 0::2]], -1).flatten(-2) * sin for z in (q, k))
        o = self.attn.proj(attention(q, k, v))
        o = o.view(B, S, T, C).transpose(1, 2).reshape(B, N, C) if self.temporal else o.view(B, N, C)
        x = x + g1 * o
        q = self.cross_attn.q_linear(x).view(B, N, H, C // H)
        k, v = self.cross_attn.kv_linear(y).view(B, y.shape[1], 2, H, C // H).unbind(2)
        x = x + self.cross_attn.proj(attention(q, k, v))
        h = modulate(F.layer_norm(x, (C,), eps=1e-6), sh2, sc2)
        return x + g2 * self.mlp.fc2(F.gelu(self.mlp.fc1(h), approximate="tanh"))


class OwnSTDiT3(nn.Module):
    """STDiT3 with upstream's module names; the plain path (x_mask None, all caption tokens valid)."""

    def __init__(self, c):
        super().__init__()
        C, heads, L = int(c["hidden_size"]), int(c["num_heads"]), int(c["model_max_length"])
        self.C, self.patch, self.sq = C, [int(p) for p in c["patch_size"]], c["input_sq_size"]
        self.cout = int(c["in_channels"]) * (2 if c["pred_sigma"] else 1)
        self.x_embedder = nn.Module()
        self.x_embedder.proj = nn.Conv3d(int(c["in_channels"]), C, self.patch, self.patch)
        self.t_embedder, self.fps_embedder = nn.Module(), nn.Module()
        self.t_embedder.mlp, self.fps_embedder.mlp = time_mlp(C), time_mlp(C)
        self.t_block = nn.Sequential(nn.SiLU(), nn.Linear(C, 6 * C))
        self.y_embedder = nn.Module()
        self.y_embedder.y_proj = linears(nn.Module(), fc1=(int(c["caption_channels"]), C), fc2=(C, C))
        self.y_embedder.register_buffer("y_embedding", torch.zeros(L, int(c["caption_channels"])))
        self.rope = nn.Module()
        D = C // heads
        self.rope.freqs = nn.Parameter(1.0 / 10000 ** (torch.arange(0, D, 2).float() / D), requires_grad=False)
        hidden = int(C * c["mlp_ratio"])
        self.spatial_blocks = nn.ModuleList(OwnSTDiT3Block(C, heads, hidden, False) for _ in range(int(c["depth"])))
        self.temporal_blocks = nn.ModuleList(OwnSTDiT3Block(C, heads, hidden, True) for _ in range(int(c["depth"])))
        self.final_layer = nn.Module()
        self.final_layer.scale_shift_table = nn.Parameter(torch.zeros(2, C))
        self.final_layer.linear = nn.Linear(C, math.prod(self.patch) * self.cout)
        self.cache = {}

    def tables(self, T, Hp, Wp, height, width, device, dtype):
        """2-D position embedding [1, S, C] (column, then row) and the RoPE cos/sin [T, D]."""
        key = (T, Hp, Wp, height, width, device, dtype)
        if key not in self.cache:
            base, scale = round((Hp * Wp) ** 0.5), (height * width) ** 0.5 / self.sq
            inv = 1.0 / 10000 ** (torch.arange(0, self.C // 2, 2).float() / (self.C // 2))
            row = (torch.arange(Hp) / scale * (base / Hp))[:, None].expand(Hp, Wp).reshape(-1)
            col = (torch.arange(Wp) / scale * (base / Wp))[None, :].expand(Hp, Wp).reshape(-1)
            sc = [torch.cat([torch.sin(p[:, None] * inv), torch.cos(p[:, None] * inv)], -1) for p in (col, row)]
            pe = torch.cat(sc, -1)[None].to(device, dtype)
            freqs = self.rope.freqs.to(dtype)  # upstream forms the angles in the model dtype
            ang = (torch.arange(T, device=device).to(dtype)[:, None] * freqs[None]).repeat_interleave(2, -1)
            self.cache[key] = (pe, (ang.cos(), ang.sin()))
        return self.cache[key]

    def forward(self, x, timestep, y, fps, height, width):
        """x [B, Cin, Tx, Hx, Wx], timestep [B], y [B, 1, L, Cc]; fps, height, width: numbers.
        Returns [B, Cout, Tx, Hx, Wx] fp32."""
        dtype = self.x_embedder.proj.weight.dtype
        B, _, Tx, Hx, Wx = x.shape
        pt, ph, pw = self.patch
        x = F.pad(x.to(dtype), (0, -Wx % pw, 0, -Hx % ph, 0, -Tx % pt))
        T, Hp, Wp = x.shape[2] // pt, x.shape[3] // ph, x.shape[4] // pw
        pe, rope = self.tables(T, Hp, Wp, height, width, x.device, dtype)
        t = self.t_embedder.mlp(timestep_freq(timestep.to(dtype)).to(dtype))
        t = t + self.fps_embedder.mlp(timestep_freq(torch.full((1,), fps, device=x.device, dtype=dtype)).to(dtype))
        t_mlp = self.t_block(t)  # [B, 6C]
        yp = self.y_embedder.y_proj
        y = yp.fc2(F.gelu(yp.fc1(y.to(dtype).squeeze(1)), approximate="tanh"))  # [B, L, C]
        x = self.x_embedder.proj(x).flatten(2).transpose(1, 2)  # [B, T*S, C]
        x = (x.view(B, T, Hp * Wp, self.C) + pe[:, None]).view(B, -1, self.C)
        for sb, tb in zip(self.spatial_blocks, self.temporal_blocks):
            x = tb(sb(x, y, t_mlp, T, Hp * Wp, rope), y, t_mlp, T, Hp * Wp, rope)
        shift, scale = (self.final_layer.scale_shift_table[None] + t[:, None]).chunk(2, dim=1)
        x = self.final_layer.linear(modulate(F.layer_norm(x, (self.C,), eps=1e-6), shift, scale))
        x = x.view(B, T, Hp, Wp, pt, ph, pw, self.cout).permute(0, 7, 1, 4, 2, 5, 3, 6)
        return x.reshape(B, self.cout, T * pt, Hp * ph, Wp * pw)[:, :, :Tx, :Hx, :Wx].float()

# ---- own forward: LatteT2V (Latte-1) ----------------------------------------------------------

def latte_attn(C, kv_dim):
    a = linears(nn.Module(), to_q=(C, C), to_k=(kv_dim, C), to_v=(kv_dim, C))
    a.to_out = nn.ModuleList([nn.Linear(C, C)])
    return a


class OwnLatteBlock(nn.Module):
    """Spatial (with cross-attention) or temporal block; adaLN-single, ungated cross-attention."""

    def __init__(self, C, heads, cross_dim):
        super().__init__()
        self.heads = heads
        self.scale_shift_table = nn.Parameter(torch.zeros(6, C))
        self.attn1 = latte_attn(C, C)
        self.attn2 = latte_attn(C, cross_dim) if cross_dim else None
        self.ff = nn.Module()
        self.ff.net = nn.ModuleList([linears(nn.Module(), proj=(C, 4 * C)), nn.Identity(), nn.Linear(4 * C, C)])

    def mha(self, a, x, ctx):
        b, n, C = x.shape
        q = a.to_q(x).view(b, n, self.heads, -1)
        k, v = (f(ctx).view(b, ctx.shape[1], self.heads, -1) for f in (a.to_k, a.to_v))
        return a.to_out[0](attention(q, k, v))

    def forward(self, x, t6, ctx):
        """x [b, n, C], t6 [b, 6C], ctx [b, L, C] or None"""
        b, n, C = x.shape
        sh1, sc1, g1, sh2, sc2, g2 = (self.scale_shift_table[None] + t6.view(b, 6, C)).chunk(6, dim=1)
        h = modulate(F.layer_norm(x, (C,), eps=1e-6), sh1, sc1)
        x = x + g1 * self.mha(self.attn1, h, h)
        if self.attn2 is not None:
            x = x + self.mha(self.attn2, x, ctx)
        h = modulate(F.layer_norm(x, (C,), eps=1e-6), sh2, sc2)
        return x + g2 * self.ff.net[2](F.gelu(self.ff.net[0].proj(h), approximate="tanh"))


class OwnLatte(nn.Module):
    def __init__(self, c):
        super().__init__()
        heads, C = int(c["num_attention_heads"]), int(c["num_attention_heads"] * c["attention_head_dim"])
        self.C, self.p, self.cout = C, int(c["patch_size"]), int(c["out_channels"])
        self.sample, self.frames = int(c["sample_size"]), int(c["video_length"])
        self.pos_embed = nn.Module()
        self.pos_embed.proj = nn.Conv2d(int(c["in_channels"]), C, self.p, self.p)
        self.adaln_single = nn.Module()
        self.adaln_single.emb = nn.Module()
        self.adaln_single.emb.timestep_embedder = linears(nn.Module(), linear_1=(256, C), linear_2=(C, C))
        self.adaln_single.linear = nn.Linear(C, 6 * C)
        self.caption_projection = linears(nn.Module(), linear_1=(int(c["caption_channels"]), C), linear_2=(C, C))
        self.scale_shift_table = nn.Parameter(torch.zeros(2, C))
        self.proj_out = nn.Linear(C, self.p * self.p * self.cout)
        n = int(c["num_layers"])
        cross = int(c["cross_attention_dim"])
        self.transformer_blocks = nn.ModuleList(OwnLatteBlock(C, heads, cross) for _ in range(n))
        self.temporal_transformer_blocks = nn.ModuleList(OwnLatteBlock(C, heads, 0) for _ in range(n))
        self.cache = {}

    def tables(self, hp, wp, F_, device, dtype):
        """2-D sin-cos [1, S, C] (column half first; PatchEmbed's grid) and the frame table [1, F, C]."""
        key = (hp, wp, F_, device, dtype)
        if key not in self.cache:
            base, interp = self.sample // self.p, max(self.sample // 64, 1)
            gh = torch.arange(hp, dtype=torch.float32) / (hp / base) / interp
            gw = torch.arange(wp, dtype=torch.float32) / (wp / base) / interp
            col, row = gw[None, :].expand(hp, wp), gh[:, None].expand(hp, wp)
            pe = torch.cat([sincos_1d(self.C // 2, col), sincos_1d(self.C // 2, row)], 1).float()
            temp = sincos_1d(self.C, torch.arange(self.frames)).float()
            self.cache[key] = (pe[None].to(device, dtype), temp[None].to(device, dtype))
        return self.cache[key]

    def forward(self, x, timestep, ctx):
        """x [B, Cin, F, Hx, Wx], timestep [B] (int), ctx [B, L, Cc] -> [B, Cout, F, Hx, Wx]"""
        dtype = self.pos_embed.proj.weight.dtype
        B, _, F_, Hx, Wx = x.shape
        hp, wp, C = Hx // self.p, Wx // self.p, self.C
        pe, temp = self.tables(hp, wp, F_, x.device, dtype)
        x = self.pos_embed.proj(x.to(dtype).transpose(1, 2).reshape(B * F_, -1, Hx, Wx)).flatten(2).transpose(1, 2)
        x = x + pe  # [B*F, S, C]
        te = self.adaln_single.emb.timestep_embedder
        emb = te.linear_2(F.silu(te.linear_1(timestep_freq(timestep).to(dtype))))  # [B, C]
        t6 = self.adaln_single.linear(F.silu(emb))  # [B, 6C]
        cp = self.caption_projection
        ctx = cp.linear_2(F.gelu(cp.linear_1(ctx.to(dtype)), approximate="tanh"))
        ctx = ctx.repeat_interleave(F_, dim=0)  # [B*F, L, C]
        t_sp, t_tm = t6.repeat_interleave(F_, dim=0), t6.repeat_interleave(hp * wp, dim=0)
        for i, (sb, tb) in enumerate(zip(self.transformer_blocks, self.temporal_transformer_blocks)):
            x = sb(x, t_sp, ctx)
            x = x.view(B, F_, hp * wp, C).transpose(1, 2).reshape(B * hp * wp, F_, C)
            if i == 0 and F_ > 1:
                x = x + temp
            x = tb(x, t_tm, None)
            x = x.view(B, hp * wp, F_, C).transpose(1, 2).reshape(B * F_, hp * wp, C)
        shift, scale = (self.scale_shift_table[None] + emb.repeat_interleave(F_, dim=0)[:, None]).chunk(2, dim=1)
        x = self.proj_out(modulate(F.layer_norm(x, (C,), eps=1e-6), shift, scale))
        x = x.view(B, F_, hp, wp, self.p, self.p, self.cout).permute(0, 6, 1, 2, 4, 3, 5)
        return x.reshape(B, self.cout, F_, Hx, Wx)
