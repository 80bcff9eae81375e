-- ddpm.lua: the noise schedule shared by diffusers' discrete samplers (DDIM, PNDM): linear betas
-- and their cumulative alpha product, with torch's CPU rounding (linspace in fp32, cumprod
-- accumulated in double and stored as fp32). Not a sampler itself (ddim.lua, pndm.lua).
local fp = require("fp")
local util = require("util")

local M = {}

-- s: the sampler description. Returns alphas_cumprod indexed 0 .. num_train_timesteps-1.
function M.alphas_cumprod(s, where)
  local f32 = fp.f32
  local n = s.num_train_timesteps
  if s.beta_schedule ~= "linear" then util.fail(where, "beta_schedule %q is not supported (linear)", tostring(s.beta_schedule)) end
  local b0, b1 = f32(s.beta_start), f32(s.beta_end)
  if not (b0 < b1) then -- a decreasing schedule makes the samplers' coefficients NaN
    util.fail(where, "sampler: beta_start %s must be below beta_end %s (an increasing noise schedule)",
      tostring(s.beta_start), tostring(s.beta_end))
  end
  local step = f32(f32(b1 - b0) / f32(n - 1))
  local ac, cum = {}, 1.0
  for i = 0, n - 1 do
    local beta = (i < n // 2) and f32(b0 + f32(step * i)) or f32(b1 - f32(step * (n - i - 1)))
    cum = cum * f32(1.0 - beta)
    ac[i] = f32(cum)
  end
  return ac
end

-- "leading" spacing: (0 .. K-1) * (n // K) + steps_offset, as integers (ascending).
function M.leading(s, K, where)
  if s.timestep_spacing ~= "leading" then
    util.fail(where, "timestep_spacing %q is not supported (leading)", tostring(s.timestep_spacing))
  end
  local ratio = s.num_train_timesteps // K
  local ts = {}
  for i = 0, K - 1 do ts[#ts + 1] = i * ratio + (s.steps_offset or 0) end
  return ts, ratio
end

return M
