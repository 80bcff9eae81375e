-- pndm.lua: diffusers' PNDMScheduler with Runge-Kutta warm-up (skip_prk_steps False; see
-- docs/upstream.md#open-sora-plan-pndm) baked per model call: N steps make N + 9 calls (12 Runge-Kutta calls over the
-- last 4 leading timesteps, then linear multistep). Per call: the timestep the model sees, the
-- phase (0..3 Runge-Kutta, 4 multistep) and _get_prev_sample's three coefficients as upstream's
-- 0-dim fp32 tensors. PAB counters wrap at N (upstream's update_steps), not at N + 9.
local ddpm = require("ddpm")
local fp = require("fp")
local util = require("util")

local M = {}

function M.bake(v, where)
  local s, f32 = v.sampler, fp.f32
  local N = s.steps
  if s.skip_prk_steps then util.fail(where, "skip_prk_steps = true is not supported (upstream runs the warm-up)") end
  if N < 4 then util.fail(where, "PNDM needs at least 4 steps, got %d", N) end
  local ac = ddpm.alphas_cumprod(s, where)
  local ts, ratio = ddpm.leading(s, N, where)
  local final = s.set_alpha_to_one and 1.0 or ac[0]
  local half = s.num_train_timesteps // N // 2
  -- prk: repeat(ts[-4:], 2) + tile([0, half], 4), then reverse(repeat(prk[:-1], 2)[1:-1])
  local prk = {}
  for k = N - 3, N do for r = 0, 1 do prk[#prk + 1] = ts[k] + r * half end end
  local rep = {}
  for k = 1, #prk - 1 do rep[#rep + 1] = prk[k]; rep[#rep + 1] = prk[k] end
  local prk_ts = {}
  for k = #rep - 1, 2, -1 do prk_ts[#prk_ts + 1] = rep[k] end
  local calls = {}
  for c = 0, #prk_ts - 1 do
    local base_t = prk_ts[(c // 4) * 4 + 1]
    local prev = prk_ts[c + 1] - ((c % 2 == 1) and 0 or half)
    calls[#calls + 1] = { t = prk_ts[c + 1], alpha_t = base_t, prev = prev, mode = c % 4 }
  end
  for k = N - 3, 1, -1 do
    calls[#calls + 1] = { t = ts[k], alpha_t = ts[k], prev = ts[k] - ratio, mode = 4 }
  end
  local out = { kind = "pndm", kind_id = 2, K = #calls, t = {}, t_model = {}, t_embed = {}, tau = {}, coef = {},
    mode = {}, update = {}, n_state = 7, counter_steps = N }
  for i, c in ipairs(calls) do
    local a_t = ac[c.alpha_t]
    local a_p = c.prev >= 0 and ac[c.prev] or final
    local b_t, b_p = f32(1 - a_t), f32(1 - a_p)
    local denom = f32(f32(a_t * f32(math.sqrt(b_p))) + f32(math.sqrt(f32(f32(a_t * b_t) * a_p))))
    out.t[i], out.t_model[i], out.t_embed[i], out.tau[i] = c.t, c.t, c.t, c.t
    out.coef[i] = { f32(math.sqrt(f32(a_p / a_t))), f32(a_p - a_t), denom, 0.0 }
    out.mode[i], out.update[i] = c.mode, true
  end
  out.all_timesteps = out.tau
  out.coef_doc = "{sample_coeff, a_prev - a_t, denom, -} of _get_prev_sample"
  out.describe = string.format("PNDM (%d steps = %d model calls: 12 Runge-Kutta + %d multistep; leading spacing, ratio %d)",
    N, #calls, #calls - 12, ratio)
  return out
end

return M
