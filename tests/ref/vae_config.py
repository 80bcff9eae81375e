"""tests/ref/vae_config.py: the configs and checkpoint tensor names of the NumPy VAE reference's three
decoders (tests/ref/vae_models.py): Open-Sora 1.2 (VideoSys, autoencoder_kl_open_sora.py:
VideoAutoencoderPipeline = VAE_Temporal + diffusers AutoencoderKL), Latte-1 (diffusers,
AutoencoderKLTemporalDecoder) and Open-Sora-Plan v1.1.0 (VideoSys, autoencoder_kl_open_sora_plan_v110.py:
CausalVAEModel). Reads the config.json formats of tests/golden/README-vae.md, refuses what the
reference does not implement, and lists every decoder tensor (name, shape) as upstream's module tree
names it. No numerics here.
"""
FAMILIES = ("opensora-v1.2", "latte", "opensora-plan-v1.1")
LATENT_NAME = {"opensora-v1.2": "z", "latte": "latents", "opensora-plan-v1.1": "latents"}
U8_RULE = {"opensora-v1.2": "round", "latte": "trunc", "opensora-plan-v1.1": "trunc"}
SD_DIVISOR = 0.18215        # Open-Sora's 2-D VAE input and Open-Sora-Plan's latents: hard-coded upstream


class ConfigError(ValueError):
    pass


def need(cond, msg):
    if not cond:
        raise ConfigError(msg)


# ---------------------------------------------------------------------------------------------------
# configs (the fixture formats; see tests/golden/README-vae.md)
def parse_config(family, c):
    if family == "opensora-v1.2":
        return _parse_opensora(c)
    if family == "latte":
        return _parse_latte(c)
    if family == "opensora-plan-v1.1":
        return _parse_osp(c)
    raise ConfigError(f"unknown family {family!r} (one of {', '.join(FAMILIES)})")


def _ints(v, what):
    need(isinstance(v, (list, tuple)) and v and all(isinstance(i, int) and i > 0 for i in v),
         f"{what} must be a non-empty list of positive integers, got {v!r}")
    return [int(i) for i in v]


def _parse_2d(s, what):
    """diffusers AutoencoderKL config (the decoder side)."""
    boc = _ints(s.get("block_out_channels"), f"{what}.block_out_channels")
    g = int(s.get("norm_num_groups", 32))
    need(all(ch % g == 0 for ch in boc), f"{what}: every block_out_channels entry must divide into {g} groups")
    need(s.get("act_fn", "silu") == "silu", f"{what}.act_fn: only silu is supported")
    ups = s.get("up_block_types", ["UpDecoderBlock2D"] * len(boc))
    need(list(ups) == ["UpDecoderBlock2D"] * len(boc), f"{what}.up_block_types: one UpDecoderBlock2D per level")
    return {"boc": boc, "layers": int(s.get("layers_per_block", 1)), "groups": g,
            "latent": int(s.get("latent_channels", 4)), "out": int(s.get("out_channels", 3)),
            "mid_attn": bool(s.get("mid_block_add_attention", True)),
            "post_quant": bool(s.get("use_post_quant_conv", True))}


def _parse_opensora(c):
    t = dict(c.get("vae_temporal") or {})
    need(t.get("type") in ("VAE_Temporal", "VAE_Temporal_SD"), "vae_temporal.type must be VAE_Temporal(_SD)")
    if t["type"] == "VAE_Temporal_SD":      # the release's hard-coded architecture
        t = dict(in_out_channels=4, latent_embed_dim=4, embed_dim=4, filters=128, num_res_blocks=4,
                 channel_multipliers=[1, 2, 2, 4], temporal_downsample=[False, True, True], num_groups=32)
    need(t.get("activation_fn", "swish") == "swish", "vae_temporal.activation_fn: only swish is supported")
    mult = _ints(t.get("channel_multipliers"), "vae_temporal.channel_multipliers")
    tds = [bool(v) for v in t.get("temporal_downsample", [])]
    need(len(tds) == len(mult) - 1, "vae_temporal.temporal_downsample needs one entry per level but the first")
    tcfg = {"io": int(t["in_out_channels"]), "latent": int(t["latent_embed_dim"]), "embed": int(t["embed_dim"]),
            "filters": int(t["filters"]), "res": int(t["num_res_blocks"]), "mult": mult, "tds": tds,
            "groups": int(t["num_groups"])}
    need(all((tcfg["filters"] * m) % tcfg["groups"] == 0 for m in mult),
         "vae_temporal: filters * channel_multipliers must divide into num_groups groups")
    v2 = c.get("vae_2d") or {}
    need("config" in v2, "vae_2d.config is missing: put the 2-D VAE's AutoencoderKL config.json there")
    scfg = _parse_2d(v2["config"], "vae_2d.config")
    need(scfg["latent"] == tcfg["io"], "vae_2d latent_channels must equal vae_temporal in_out_channels")
    mfs = c.get("micro_frame_size", 17)
    mbs = v2.get("micro_batch_size", None)
    scale, shift = c.get("scale"), c.get("shift")
    need(isinstance(scale, list) and isinstance(shift, list) and len(scale) == len(shift) == tcfg["embed"],
         "scale and shift must be lists of embed_dim numbers")
    return {"temporal": tcfg, "spatial": scfg, "micro_frame_size": None if mfs is None else int(mfs),
            "micro_batch_size": None if mbs is None else int(mbs), "scale": scale, "shift": shift,
            "cal_loss": bool(c.get("cal_loss", False))}


def _parse_latte(c):
    need(c.get("_class_name", "AutoencoderKLTemporalDecoder") == "AutoencoderKLTemporalDecoder",
         "_class_name must be AutoencoderKLTemporalDecoder")
    boc = _ints(c.get("block_out_channels"), "block_out_channels")
    need(all(ch % 32 == 0 for ch in boc), "block_out_channels: every GroupNorm of this decoder has 32 groups")
    return {"boc": boc, "layers": int(c.get("layers_per_block", 1)), "latent": int(c.get("latent_channels", 4)),
            "out": int(c.get("out_channels", 3)), "scaling_factor": float(c.get("scaling_factor", 0.18215))}


def _parse_osp(c):
    mult = _ints(c.get("hidden_size_mult"), "hidden_size_mult")
    L = len(mult)
    su, tu = c.get("decoder_spatial_upsample"), c.get("decoder_temporal_upsample")
    rb = c.get("decoder_resnet_blocks")
    need(isinstance(su, list) and len(su) == L and all(v in ("", "SpatialUpsample2x") for v in su),
         "decoder_spatial_upsample: one of \"\" / SpatialUpsample2x per level")
    need(isinstance(tu, list) and len(tu) == L and all(v in ("", "TimeUpsampleRes2x") for v in tu),
         "decoder_temporal_upsample: one of \"\" / TimeUpsampleRes2x per level")
    need(rb == ["ResnetBlock3D"] * L, "decoder_resnet_blocks: ResnetBlock3D at every level")
    need(c.get("decoder_mid_resnet", "ResnetBlock3D") == "ResnetBlock3D", "decoder_mid_resnet: ResnetBlock3D")
    need(c.get("decoder_attention", "AttnBlock3DFix") == "AttnBlock3DFix", "decoder_attention: AttnBlock3DFix")
    need(c.get("decoder_conv_in", "CausalConv3d") == "CausalConv3d" and
         c.get("decoder_conv_out", "CausalConv3d") == "CausalConv3d", "decoder_conv_in/out: CausalConv3d")
    need(not c.get("attn_resolutions"), "attn_resolutions: attention inside the up levels is not supported")
    hs = int(c["hidden_size"])
    need(all((hs * m) % 32 == 0 for m in mult), "hidden_size * hidden_size_mult: every GroupNorm has 32 groups")
    return {"hidden": hs, "mult": mult, "res": int(c["num_res_blocks"]), "z": int(c["z_channels"]),
            "embed": int(c["embed_dim"]), "su": [bool(v) for v in su], "tu": [bool(v) for v in tu], "out": 3}


def latent_channels(family, cfg):
    """Channels of the latent the decode takes."""
    return {"opensora-v1.2": lambda: cfg["temporal"]["embed"], "latte": lambda: cfg["latent"],
            "opensora-plan-v1.1": lambda: cfg["embed"]}[family]()


# ---------------------------------------------------------------------------------------------------
# checkpoint names and shapes (decoder side)
def _conv_shapes(s, name, cout, cin, k, bias=True):
    s[name + ".weight"] = [cout, cin] + list(k)
    if bias:
        s[name + ".bias"] = [cout]


def _norm(s, name, ch):
    s[name + ".weight"], s[name + ".bias"] = [ch], [ch]


def _resnet2d(s, p, cin, cout):
    _norm(s, p + "norm1", cin)
    _conv_shapes(s, p + "conv1", cout, cin, (3, 3))
    _norm(s, p + "norm2", cout)
    _conv_shapes(s, p + "conv2", cout, cout, (3, 3))
    if cin != cout:
        _conv_shapes(s, p + "conv_shortcut", cout, cin, (1, 1))


def _attention2d(s, p, ch):
    _norm(s, p + "group_norm", ch)
    for n in ("to_q", "to_k", "to_v", "to_out.0"):
        _conv_shapes(s, p + n, ch, ch, ())


def param_shapes(family, cfg):
    """{name: shape} of every tensor the decoder reads."""
    s = {}
    if family == "opensora-v1.2":
        t, sp = cfg["temporal"], cfg["spatial"]
        s["scale"] = s["shift"] = [1, t["embed"], 1, 1, 1]
        p = "temporal_vae."
        _conv_shapes(s, p + "post_quant_conv.conv", t["latent"], t["embed"], (1, 1, 1))
        p += "decoder."
        ch = t["filters"] * t["mult"][-1]
        _conv_shapes(s, p + "conv1.conv", ch, t["latent"], (3, 3, 3))
        blocks = [("res_blocks.%d" % r, ch, ch) for r in range(t["res"])]
        for i in reversed(range(len(t["mult"]))):
            out = t["filters"] * t["mult"][i]
            for j in range(t["res"]):
                blocks.append(("block_res_blocks.%d.%d" % (i, j), ch, out))
                ch = out
            if i > 0 and t["tds"][i - 1]:
                _conv_shapes(s, p + "conv_blocks.%d.conv" % (i - 1), 2 * ch, ch, (3, 3, 3))
        for name, cin, cout in blocks:
            _norm(s, p + name + ".norm1", cin)
            _conv_shapes(s, p + name + ".conv1.conv", cout, cin, (3, 3, 3), bias=False)
            _norm(s, p + name + ".norm2", cout)
            _conv_shapes(s, p + name + ".conv2.conv", cout, cout, (3, 3, 3), bias=False)
            if cin != cout:
                _conv_shapes(s, p + name + ".conv3.conv", cout, cin, (1, 1, 1), bias=False)
        _norm(s, p + "norm1", ch)
        _conv_shapes(s, p + "conv_out.conv", t["io"], ch, (3, 3, 3))
        p = "spatial_vae.module."
        if sp["post_quant"]:
            _conv_shapes(s, p + "post_quant_conv", sp["latent"], sp["latent"], (1, 1))
        _decoder2d_shapes(s, p + "decoder.", sp, temporal=False)
    elif family == "latte":
        _decoder2d_shapes(s, "decoder.", cfg, temporal=True)
    else:
        ch = cfg["hidden"] * cfg["mult"][-1]
        _conv_shapes(s, "post_quant_conv.conv", cfg["z"], cfg["embed"], (1, 1, 1))
        p = "decoder."
        _conv_shapes(s, p + "conv_in.conv", ch, cfg["z"], (3, 3, 3))
        blocks = [("mid.block_1", ch, ch), ("mid.block_2", ch, ch)]
        _norm(s, p + "mid.attn_1.norm", ch)
        for n in ("q", "k", "v", "proj_out"):
            _conv_shapes(s, p + "mid.attn_1.%s.conv" % n, ch, ch, (1, 1, 1))
        for lvl in reversed(range(len(cfg["mult"]))):
            out = cfg["hidden"] * cfg["mult"][lvl]
            for b in range(cfg["res"] + 1):
                blocks.append(("up.%d.block.%d" % (lvl, b), ch, out))
                ch = out
            if cfg["su"][lvl]:
                _conv_shapes(s, p + "up.%d.upsample.conv.conv" % lvl, ch, ch, (1, 3, 3))
            if cfg["tu"][lvl]:
                _conv_shapes(s, p + "up.%d.time_upsample.conv.conv" % lvl, ch, ch, (3, 3, 3))
                s[p + "up.%d.time_upsample.mix_factor" % lvl] = [1]
        for name, cin, cout in blocks:
            _norm(s, p + name + ".norm1", cin)
            _conv_shapes(s, p + name + ".conv1.conv", cout, cin, (3, 3, 3))
            _norm(s, p + name + ".norm2", cout)
            _conv_shapes(s, p + name + ".conv2.conv", cout, cout, (3, 3, 3))
            if cin != cout:
                _conv_shapes(s, p + name + ".nin_shortcut.conv", cout, cin, (1, 1, 1))
        _norm(s, p + "norm_out", ch)
        _conv_shapes(s, p + "conv_out.conv", cfg["out"], ch, (3, 3, 3))
    return s


def _decoder2d_shapes(s, p, c, temporal):
    """diffusers Decoder (temporal False) or TemporalDecoder (temporal True: every resnet is a
    SpatioTemporalResBlock, the mid block has layers_per_block resnets, plus time_conv_out)."""
    boc = c["boc"]
    top = boc[-1]

    def resnet(q, cin, cout):
        if not temporal:
            return _resnet2d(s, q, cin, cout)
        _resnet2d(s, q + "spatial_res_block.", cin, cout)
        for n in ("norm1", "norm2"):
            _norm(s, q + "temporal_res_block." + n, cout)
        for n in ("conv1", "conv2"):
            _conv_shapes(s, q + "temporal_res_block." + n, cout, cout, (3, 1, 1))
        s[q + "time_mixer.mix_factor"] = [1]

    _conv_shapes(s, p + "conv_in", top, c["latent"], (3, 3))
    for r in range(c["layers"] if temporal else 2):
        resnet(p + "mid_block.resnets.%d." % r, top, top)
    if temporal or c["mid_attn"]:
        _attention2d(s, p + "mid_block.attentions.0.", top)
    ch = top
    for i, out in enumerate(reversed(boc)):
        for j in range(c["layers"] + 1):
            resnet(p + "up_blocks.%d.resnets.%d." % (i, j), ch, out)
            ch = out
        if i < len(boc) - 1:
            _conv_shapes(s, p + "up_blocks.%d.upsamplers.0.conv" % i, ch, ch, (3, 3))
    _norm(s, p + "conv_norm_out", boc[0])
    _conv_shapes(s, p + "conv_out", c["out"], boc[0], (3, 3))
    if temporal:
        _conv_shapes(s, p + "time_conv_out", c["out"], c["out"], (3, 1, 1))


def decoder_side(family, name):
    """True for a checkpoint tensor the decoder owns (everything else, encoder.* and quant_conv.*,
    is the encoder's and ignored)."""
    if family == "opensora-v1.2":
        return name in ("scale", "shift") or name.startswith(
            ("spatial_vae.module.decoder.", "spatial_vae.module.post_quant_conv.",
             "temporal_vae.decoder.", "temporal_vae.post_quant_conv."))
    if family == "latte":
        return name.startswith("decoder.")
    return name.startswith(("decoder.", "post_quant_conv."))
