-- nn.lua: the network pieces any family composes, each appending ops to a program and
-- registering its weights with their checkpoint names and shapes (so the manifest derives from
-- the ops that read it): linear (and its all-fp32 form), RMSNorm, two-layer MLPs, the sinusoidal
-- timestep embedder.
-- Not here: a DiT's modulated, cached sub-layers (dit_layers.lua) or op numerics (runtime).
local M = {}

-- out[M, N] = src[M, K] @ weight[N, K]^T + bias; act: nil | "gelu_tanh".
function M.linear(P, wprefix, src, out, Mrows, K, N, opt)
  opt = opt or {}
  local w = P:weight(wprefix .. ".weight", { N, K })
  local b = (opt.bias ~= false) and P:weight(wprefix .. ".bias", { N }) or nil
  return P:op("linear", wprefix, {
    out = { buf = out }, src = { buf = src }, w = { w = w }, b = b and { w = b } or "NULL",
    M = Mrows, K = K, N = N, act = opt.act == "gelu_tanh" and "DITC_ACT_GELU_TANH" or "DITC_ACT_NONE",
  }, { src }, { out }, { dump = opt.dump, dump_shape = opt.dump_shape })
end

-- out[M, N] = src[M, K] @ weight[N, K]^T with src, weight and out in fp32 whatever the storage
-- (T5's `wo` in an fp16 pipeline: transformers keeps it in fp32); no bias, no activation.
function M.linear_f32(P, wprefix, src, out, Mrows, K, N, opt)
  local w = P:weight(wprefix .. ".weight", { N, K }, nil, { dtype = "f32" })
  return P:op("linear_f32", wprefix, { out = { buf = out }, src = { buf = src }, w = { w = w }, M = Mrows, K = K, N = N },
    { src }, { out }, { dump = opt and opt.dump })
end

-- out[R, C] = RMSNorm(src) * weight (T5's LayerNorm: no mean, no bias), weight `<prefix>.weight`.
-- An fp32 src (a residual stream kept in fp32 inside a 16-bit build) is read as fp32; out is storage.
function M.rms_norm(P, prefix, src, out, R, C, eps, opt)
  local w = P:weight(prefix .. ".weight", { C })
  local kind = P.buffers[src].dtype == "f32" and "rms_norm_from_f32" or "rms_norm"
  return P:op(kind, prefix, { out = { buf = out }, src = { buf = src }, w = { w = w }, R = R, C = C, eps = eps },
    { src }, { out }, { dump = opt and opt.dump })
end

-- names[1] -> GELU(tanh) -> names[2] (timm Mlp with approx_gelu, PixArt's caption projection).
function M.mlp2(P, prefix, names, src, rows, cin, hidden, cout, out, opt)
  local h = P:buffer(prefix .. ".h", { rows, hidden }, { dims = "rows, hidden" })
  M.linear(P, prefix .. "." .. names[1], src, h, rows, cin, hidden, { act = "gelu_tanh" })
  P:buffer(out, { rows, cout }, { dims = "rows, C" })
  M.linear(P, prefix .. "." .. names[2], h, out, rows, hidden, cout, opt)
end

-- Sinusoidal timestep embedding (256, cos first) -> Linear -> SiLU -> Linear, out [B, C]:
-- Open-Sora's TimestepEmbedder (mlp.0, mlp.2) and diffusers' TimestepEmbedding (linear_1,
-- linear_2). opt.names: the two linears; opt.out: the output buffer (default: prefix).
function M.timestep_embedder(P, prefix, src, B, C, opt)
  local names = opt.names or { "mlp.0", "mlp.2" }
  local out = opt.out or prefix
  local freq = P:buffer(prefix .. ".freq", { B, 256 }, { dims = "B, 256" })
  P:op("sinusoid", prefix .. ".freq", { out = { buf = freq }, t = { buf = src }, B = B, dim = 256 }, { src }, { freq })
  local h = P:buffer(prefix .. ".h", { B, C }, { dims = "B, C" })
  M.linear(P, prefix .. "." .. names[1], freq, h, B, 256, C)
  P:op("silu", prefix .. ".silu", { out = { buf = h }, src = { buf = h }, n = B * C }, { h }, { h })
  P:buffer(out, { B, C }, { dims = "B, C" })
  M.linear(P, prefix .. "." .. names[2], h, out, B, C, C, opt)
end


return M
