-- vae.lua: the pieces of the video decoders (VAEs), over activations [N, C, T, H, W] (an image
-- decoder runs its frames as N = frames, T = 1): convolutions with zero or replicate padding,
-- GroupNorm (+ SiLU) pooled over a chunk's frames or per frame, the residual blocks of diffusers,
-- Open-Sora and Open-Sora-Plan, the one-head attention block, nearest upsampling. A decoder's
-- chunks and tiles differ in size, so ops run on a few work buffers whose sizes are the largest
-- tensor each holds, known once the whole decode is laid out: a Work records the ops and
-- declares its buffers at finish(). Not here: a family's layout of blocks (families/vae_*.lua) or
-- op numerics (runtime/cpu/vae.c, runtime/cuda/vae.cu).
local M = {}

-- A command-line value "a,b,c,d" of n positive integers (a --latent C,T,H,W), for a family's cli.
function M.ints_flag(n)
  return function(s, flag)
    local out = {}
    for x in (s .. ","):gmatch("([^,]*),") do out[#out + 1] = math.tointeger(tonumber(x)) or false end
    local ok = #out == n
    for _, x in ipairs(out) do ok = ok and x and x >= 1 end
    if not ok then require("util").fail(nil, "%s takes %d positive integers a,b,...; got %q", flag, n, s) end
    return out
  end
end

-- ---- tensors on work buffers -------------------------------------------------------------------

-- A tensor: the buffer holding it and its shape [N, C, T, H, W].
function M.tensor(buf, N, C, T, H, W) return { buf = buf, N = N, C = C, T = T, H = H, W = W } end
local function elems(x) return x.N * x.C * x.T * x.H * x.W end
M.elems = elems
-- x's shape on another buffer, with fields of `over` replaced.
function M.like(x, buf, over)
  local y = { buf = buf, N = x.N, C = x.C, T = x.T, H = x.H, W = x.W }
  for k, v in pairs(over or {}) do y[k] = v end
  return y
end
local function shape(x) return { x.N, x.C, x.T, x.H, x.W } end
M.shape = shape

local Work = {}
Work.__index = Work

-- P: the program; bufs: the work buffers' names in the order the plan lists them. A Work's
-- dump_shape(x) (default [N, C, T, H, W]) is the shape a dump shows: an image decoder shows its
-- first image.
function M.work(P, bufs)
  local w = setmetatable({ P = P, ops = {}, need = {}, bufs = {}, is_work = {} }, Work)
  for _, b in ipairs(bufs) do w:track(b) end
  return w
end

-- Another work buffer (declared at finish(), after the others).
function Work:track(name)
  if not self.is_work[name] then
    self.bufs[#self.bufs + 1] = name
    self.is_work[name] = true
  end
  return name
end

-- Records an op (program.lua's P:op arguments) whose reads and writes are tensors or io buffer
-- names; a work tensor grows its buffer to fit. opt.dump: the tensor the dump shows (default the
-- last written).
function Work:op(kind, name, args, reads, writes, opt)
  local shapes = {}
  local function names(list)
    local out = {}
    for i, x in ipairs(list) do
      if type(x) == "table" then
        if self.is_work[x.buf] then
          self.need[x.buf] = math.max(self.need[x.buf] or 0, elems(x))
          shapes[x.buf] = shape(x)
        end
        out[i] = x.buf
      else
        out[i] = x
      end
    end
    return out
  end
  local o = { kind, name, args, names(reads), names(writes), { shapes = shapes } }
  if opt and opt.dump then
    local x = opt.dump_of or writes[#writes]
    o[6].dump, o[6].dump_buf, o[6].dump_shape = opt.dump, x.buf, opt.dump_shape or (self.dump_shape or shape)(x)
  end
  self.ops[#self.ops + 1] = o
end

-- Declares the work buffers at their largest use, then adds the recorded ops to the program.
function Work:finish()
  for _, b in ipairs(self.bufs) do
    if self.need[b] then self.P:buffer(b, { self.need[b] }, { dims = "N*C*T*H*W of the largest tensor it holds" }) end
  end
  for _, o in ipairs(self.ops) do self.P:op(table.unpack(o)) end
end

-- ---- ops ---------------------------------------------------------------------------------------

-- A progress op before the decoder's call i (0-based) of n: stage is DITC_PROGRESS_CHUNK, _FRAMES
-- or _TILE (runtime/core/ditc_abi.h).
function M.progress(W, stage, i, n)
  W:op("progress", string.format("progress.%s.%d", stage:lower():match("[a-z]+$"), i), { stage = stage, i = i, n = n },
    {}, {})
end

local function B(x) return { buf = x.buf } end

-- out = conv(x) + bias: kernel k = { kt, kh, kw }, pad = { front, behind, rows, columns }
-- (zeros; opt.replicate: frames copied from the ends), weight `prefix.weight` of checkpoint
-- shape opt.wshape (default [Cout, Cin, kt, kh, kw]); opt.bias false: none.
function M.conv(W, prefix, x, out_buf, Cout, k, pad, opt)
  opt = opt or {}
  local P = W.P
  local w = P:weight(prefix .. ".weight", opt.wshape or { Cout, x.C, k[1], k[2], k[3] })
  local b = opt.bias ~= false and P:weight(prefix .. ".bias", { Cout }) or nil
  local y = M.like(x, out_buf, { C = Cout, T = x.T + pad[1] + pad[2] - k[1] + 1, H = x.H + 2 * pad[3] - k[2] + 1,
    W = x.W + 2 * pad[4] - k[3] + 1 })
  W:op("conv3d", prefix, { out = B(y), src = B(x), w = { w = w }, b = b and { w = b } or "NULL", N = x.N, Cin = x.C,
    Cout = Cout, T = x.T, H = x.H, W = x.W, kt = k[1], kh = k[2], kw = k[3], pt0 = pad[1], pt1 = pad[2], ph = pad[3],
    pw = pad[4], replicate = opt.replicate and 1 or 0 }, { x }, { y }, { dump = opt.dump })
  return y
end

-- The kernels and paddings the decoders use.
M.K2 = { 1, 3, 3 } -- a 2-D 3x3 conv on each frame (zero pad 1)
M.PAD2 = { 0, 0, 1, 1 }
M.K1 = { 1, 1, 1 }
M.PAD0 = { 0, 0, 0, 0 }
M.CAUSAL3 = { 2, 0, 1, 1 } -- 3x3x3: two frames in front, none behind, 1 pixel around

-- GroupNorm of x into out_buf (`prefix.weight`, `prefix.bias`), statistics over the chunk's
-- frames (per_frame false) or per frame; then SiLU when silu.
function M.group_norm(W, prefix, x, out_buf, G, eps, per_frame, silu, opt)
  local P = W.P
  local g, b = P:weight(prefix .. ".weight", { x.C }), P:weight(prefix .. ".bias", { x.C })
  local y = M.like(x, out_buf)
  W:op("group_norm", prefix, { out = B(y), src = B(x), gamma = { w = g }, beta = { w = b }, N = x.N, C = x.C, T = x.T,
    HW = x.H * x.W, G = G, eps = eps, per_frame = per_frame and 1 or 0, silu = silu and 1 or 0 }, { x }, { y },
    { dump = opt and opt.dump })
  return y
end

-- GroupNorm, then SiLU as its own op: the dump shows the norm's output (upstream's module).
function M.group_norm_silu(W, prefix, x, out_buf, G, eps, per_frame, opt)
  local y = M.group_norm(W, prefix, x, out_buf, G, eps, per_frame, false, opt)
  W:op("silu", prefix .. ".silu", { out = B(y), src = B(y), n = elems(y) }, { y }, { y })
  return y
end

-- out = a + b (same shape).
function M.add(W, name, a, b, out_buf, opt)
  local y = M.like(a, out_buf)
  W:op("add", name, { out = B(y), a = B(a), b = B(b), n = elems(a) }, { a, b }, { y }, { dump = opt and opt.dump })
  return y
end

-- Nearest 2x in H and W.
function M.upsample2x(W, name, x, out_buf)
  local y = M.like(x, out_buf, { H = 2 * x.H, W = 2 * x.W })
  W:op("upsample2x", name, { out = B(y), src = B(x), R = x.N * x.C * x.T, H = x.H, W = x.W }, { x }, { y })
  return y
end

-- ---- blocks --------------------------------------------------------------------------------
-- Each block reads x on buffer `X` and leaves its output there; A, Bf, S (and V) are scratch.

-- A residual block: norm1 -> SiLU -> conv1 -> norm2 -> SiLU -> conv2, plus x (or a 1x1 shortcut
-- of x when the channels change). s: { G, eps, per_frame, k, pad, replicate, bias, twod
-- (2-D checkpoint kernels [Cout, Cin, kh, kw]), conv1, conv2, shortcut (names), dump }.
function M.resblock(W, prefix, x, Cout, bufs, s)
  local function kshape(Co, Ci, k)
    if s.twod then return { Co, Ci, k[2], k[3] } end
    return nil
  end
  local n1 = s.norm1 or "norm1"
  local h = M.group_norm(W, prefix .. "." .. n1, x, bufs.A, s.G, s.eps, s.per_frame, true)
  local c1 = prefix .. "." .. (s.conv1 or "conv1")
  h = M.conv(W, c1, h, bufs.B, Cout, s.k, s.pad, { replicate = s.replicate, bias = s.bias, wshape = kshape(Cout, x.C, s.k) })
  h = M.group_norm(W, prefix .. "." .. (s.norm2 or "norm2"), h, bufs.A, s.G, s.eps, s.per_frame, true)
  h = M.conv(W, prefix .. "." .. (s.conv2 or "conv2"), h, bufs.B, Cout, s.k, s.pad,
    { replicate = s.replicate, bias = s.bias, wshape = kshape(Cout, Cout, s.k) })
  local res = x
  if x.C ~= Cout then
    res = M.conv(W, prefix .. "." .. s.shortcut, x, bufs.A, Cout, M.K1, M.PAD0,
      { bias = s.bias, wshape = s.twod and { Cout, x.C, 1, 1 } or nil })
  end
  return M.add(W, prefix .. ".residual", res, h, x.buf, { dump = s.dump })
end

-- One-head attention over the tokens of each image, with a residual: GroupNorm -> q, k, v
-- (1x1: Linear weights [C, C] (opt.linear) or 1x1x1 convs) -> softmax(q k^T / sqrt(C)) v ->
-- the output projection -> + x. names: { norm, q, k, v, out }; opt.pooled: the norm pools the
-- frames (Open-Sora-Plan's 5-D GroupNorm; else each image has its own statistics).
function M.attention(W, prefix, x, bufs, G, eps, names, opt)
  local C = x.C
  local ws = opt.linear and { C, C } or nil
  local h = M.group_norm(W, prefix .. "." .. names.norm, x, bufs.A, G, eps, not opt.pooled, false)
  local q = M.conv(W, prefix .. "." .. names.q, h, bufs.B, C, M.K1, M.PAD0, { wshape = ws })
  local k = M.conv(W, prefix .. "." .. names.k, h, bufs.S, C, M.K1, M.PAD0, { wshape = ws })
  local v = M.conv(W, prefix .. "." .. names.v, h, bufs.V, C, M.K1, M.PAD0, { wshape = ws })
  local o = M.like(x, bufs.A)
  W:op("frame_attention", prefix .. ".sdpa", { out = B(o), q = B(q), k = B(k), v = B(v), N = x.N, C = C, T = x.T,
    HW = x.H * x.W, scale = 1 / math.sqrt(C) }, { q, k, v }, { o })
  o = M.conv(W, prefix .. "." .. names.out, o, bufs.B, C, M.K1, M.PAD0, { wshape = ws })
  return M.add(W, prefix .. ".residual", x, o, x.buf, { dump = opt.dump })
end

-- diffusers' Upsample2D: nearest 2x, then a 3x3 conv (`prefix.conv`, 2-D weights) into X.
function M.upsample_conv2d(W, prefix, x, bufs, opt)
  local u = M.upsample2x(W, prefix .. ".nearest", x, bufs.A)
  return M.conv(W, prefix .. ".conv", u, x.buf, x.C, M.K2, M.PAD2, { wshape = { x.C, x.C, 3, 3 }, dump = opt and opt.dump })
end

-- ---- a decoder's io ---------------------------------------------------------------------------

-- The io of a video decoder over its dims d (B, Cz, Tz or F, h, w, F, H, W, Co): the latent input
-- `name` [B, Cz, lt, h, w] (lt: its frame dim's name), the outputs sample [B, Co, F, H, W] (fp32,
-- upstream's layout) and frames_u8 [B, F, H, W, Co], and the storage buffer "video" that the
-- decode fills and finish() converts; fps: the pipeline's frame rate. Returns the input's
-- storage copy "zs" [1, Cz, lt, h, w] (a tensor) and the video (a tensor).
function M.decoder_io(W, d, name, lt, fps)
  local P = W.P
  P.video_fps = fps
  local T = d[lt]
  P:buffer(name, { d.B, d.Cz, T, d.h, d.w }, { kind = "io", role = "input", dims = "B, Cz, " .. lt .. ", h, w",
    batched = true })
  P:buffer("sample", { d.B, d.Co, d.F, d.H, d.W }, { kind = "io", role = "output", dims = "B, Co, F, H, W", batched = true })
  P:buffer("frames_u8", { d.B, d.F, d.H, d.W, d.Co }, { kind = "io", role = "output", dtype = "u8",
    dims = "B, F, H, W, Co", batched = true })
  P:buffer("zs", { d.B, d.Cz, T, d.h, d.w }, { dims = "B, Cz, " .. lt .. ", h, w" })
  P:buffer("video", { d.B, d.Co, d.F, d.H, d.W }, { dims = "B, Co, F, H, W" })
  local z = M.tensor("zs", 1, d.Cz, T, d.h, d.w)
  W:op("from_f32", name, { out = { buf = "zs" }, src = { buf = name }, n = elems(z) }, { name }, { z })
  return z, M.tensor("video", 1, d.Co, d.F, d.H, d.W)
end

-- The decoded video into the outputs (sample; frames_u8 by the pipeline's rule, mode 0: round as
-- Open-Sora, 1: truncate as Latte and Open-Sora-Plan), then the work buffers declared.
function M.finish(W, video, mode)
  W:op("to_f32", "sample", { out = { buf = "sample" }, src = { buf = "video" }, n = elems(video) }, { video }, { "sample" })
  W:op("to_u8", "frames_u8", { out = { buf = "frames_u8" }, src = { buf = "video" }, N = 1, C = video.C, T = video.T,
    HW = video.H * video.W, mode = mode }, { video }, { "frames_u8" })
  W:finish()
end
M.ROUND, M.TRUNCATE = 0, 1

-- ---- copies ------------------------------------------------------------------------------------

-- Copies frames t0 .. t0+n-1 of x into frames d0 .. of y (same N, C, H, W).
function M.copy_frames(W, name, x, t0, n, y, d0, opt)
  local HW = x.H * x.W
  W:op("copy4", name, { out = B(y), src = B(x), n0 = x.N * x.C, n1 = n, n2 = HW, n3 = 1,
    os = t0 * HW, s0 = x.T * HW, s1 = HW, s2 = 1, s3 = 0, od = d0 * HW, d0 = y.T * HW, d1 = HW, d2 = 1, d3 = 0 },
    { x }, { y }, opt)
end

return M
