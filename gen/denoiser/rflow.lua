-- rflow.lua: Open-Sora's RFLOW sampler schedule, baked at build time with upstream's rounding
-- (docs/upstream.md#open-sora-12-rflow): uniform timesteps, the resolution/length shift
-- computed on size tensors of the pipeline dtype, the model-visible timesteps, PAB's integer
-- keys, the per-step update dt and the x_mask rule. Not the sampler loop (runtime/denoiser/sampler.c).
local fp = require("fp")
local util = require("util")

local M = {}

-- v: a resolved variant; where: the source position errors name. Returns the per-step tables
-- (1-based Lua lists of length K).
function M.bake(v, where)
  local s = v.sampler
  local K, NT = s.steps, s.num_timesteps
  local f32 = fp.f32
  local R = fp.rounder(v.dtype)           -- rounding of the pipeline's bf16/fp32 size tensors
  local out = { kind = "rflow", kind_id = 0, K = K, t = {}, t_model = {}, tau = {}, dt = {}, x_mask = {},
    n_state = 0, counter_steps = K }

  -- ratio = sqrt(H*W / 512^2) * sqrt(nf) * scale, each op rounded in the pipeline dtype.
  local ratio
  if s.use_timestep_transform then
    local h, w, nf = R(v.height), R(v.width), R(v.num_frames)
    local rs = R(math.sqrt(R(R(h * w) / (512 * 512))))
    local frames = (nf == 1) and 1 or R(R(math.floor(nf / 17)) * 5)
    local rt = R(math.sqrt(R(frames / 1)))
    ratio = R(R(rs * rt) * s.transform_scale)
    out.ratio = ratio
    if not (ratio > 0) then
      util.fail(where, "num_frames %d gives upstream's timestep shift ratio %g (num_frames // 17 * 5 = %g): "
        .. "every timestep would be 0 or NaN; use num_frames = 1 or >= 17", v.num_frames, ratio, frames)
    end
  end

  for i = 0, K - 1 do
    local t = f32((1.0 - i / K) * NT)      -- python float -> float32 tensor
    if ratio then
      local u = f32(t / NT)
      local num = f32(ratio * u)            -- bf16 * fp32 promotes to fp32
      local den = f32(1 + f32(R(ratio - 1) * u))
      t = f32(f32(num / den) * NT)
    end
    out.t[i + 1] = t
    out.t_model[i + 1] = R(t)               -- timestep.to(dtype) inside the model
    out.tau[i + 1] = fp.trunc(R(t))         -- int(t.to(dtype).item())
    out.x_mask[i + 1] = f32(1.0 * NT) >= t  -- mask * num_timesteps >= t  (mask = ones)
  end
  for i = 1, K do
    local d = (i < K) and f32(out.t[i] - out.t[i + 1]) or out.t[i]
    out.dt[i] = f32(d / NT)
  end
  -- The value fed to the timestep embedder: x_mask False selects the t0 (timestep 0) branch for
  -- every frame, and the step's update is discarded (z = where(x_mask, z_new, z)).
  out.t_embed, out.update = {}, {}
  for i = 1, K do
    out.t_embed[i] = out.x_mask[i] and out.t_model[i] or 0.0
    out.update[i] = out.x_mask[i]
  end
  out.coef, out.mode = {}, {}
  for i = 1, K do out.coef[i], out.mode[i] = { out.dt[i], 0.0, 0.0, 0.0 }, 0 end
  out.all_timesteps = out.tau
  out.coef_doc = "{dt, -, -, -}: z += v * dt"
  out.describe = string.format("RFLOW, %d steps (%s)", K, ratio and ("timestep shift ratio " .. fp.f32_str(ratio)) or "no timestep shift")
  return out
end

return M
