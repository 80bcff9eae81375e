-- ddim.lua: diffusers' DDIMScheduler (eta 0, epsilon prediction) baked per step (see
-- docs/upstream.md#latte-1-ddim): leading timesteps, and the four coefficients of
--   x0 = (z - sqrt(1 - a_t) e) / sqrt(a_t);  z = sqrt(a_prev) x0 + sqrt(1 - a_prev) e
-- computed as upstream's 0-dim fp32 tensors. Not the loop (runtime/denoiser/sampler.c).
local ddpm = require("ddpm")
local fp = require("fp")
local util = require("util")

local M = {}

function M.bake(v, where)
  local s, f32 = v.sampler, fp.f32
  local K = s.steps
  if (s.eta or 0) ~= 0 then util.fail(where, "eta %g is not supported (0: deterministic DDIM)", s.eta) end
  local ac = ddpm.alphas_cumprod(s, where)
  local asc, ratio = ddpm.leading(s, K, where)
  local final = s.set_alpha_to_one and 1.0 or ac[0]
  local out = { kind = "ddim", kind_id = 1, K = K, t = {}, t_model = {}, t_embed = {}, tau = {}, coef = {},
    mode = {}, update = {}, n_state = 1, counter_steps = K }
  for i = 1, K do
    local t = asc[K - i + 1]
    local prev = t - ratio
    local a_t = ac[t]
    local a_p = prev >= 0 and ac[prev] or final
    out.t[i], out.t_model[i], out.t_embed[i], out.tau[i] = t, t, t, t
    out.coef[i] = { f32(math.sqrt(f32(1 - a_t))), f32(math.sqrt(a_t)), f32(math.sqrt(a_p)), f32(math.sqrt(f32(1 - a_p))) }
    out.mode[i], out.update[i] = 0, true
  end
  out.all_timesteps = out.tau
  out.coef_doc = "{sqrt(1-a_t), sqrt(a_t), sqrt(a_prev), sqrt(1-a_prev)}"
  out.describe = string.format("DDIM, %d steps (eta 0, leading spacing, ratio %d, set_alpha_to_one %s)", K, ratio,
    tostring(s.set_alpha_to_one))
  return out
end

return M
