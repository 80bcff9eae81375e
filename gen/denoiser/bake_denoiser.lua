-- bake_denoiser.lua: a denoiser's part of baking a variant: the sampler schedule, the sampler's
-- state and the checkpoint tensors inference does not read, PAB tables, FLOPs per module and
-- the communication schedule of sequence parallelism, around its family's op program. Not
-- here: the weight layout and memory plan every network gets (bake.lua), emission.
local dsp = require("dsp")
local pab = require("pab")
local util = require("util")

local M = {}

M.MAX_PAB_CELLS = 1 << 18 -- model calls x PAB modules: the size of the static table

local samplers = { rflow = require("rflow"), ddim = require("ddim"), pndm = require("pndm") }

-- fam: the loaded description; v: a resolved variant; where: the source position of sampler
-- errors; finish(P, tables): bake.lua's device workspace, weight layout and memory plan.
-- Returns { sched, program, pab, comm, plan }.
function M.variant(fam, v, where, finish)
  local sched = samplers[v.sampler.kind].bake(v, where)
  for i = 1, sched.K do -- a schedule the sampler cannot run (e.g. alphas_cumprod reaching 0) is the user's
    local vals = { sched.t[i], sched.t_embed[i], table.unpack(sched.coef[i]) }
    for _, x in ipairs(vals) do
      if x ~= x or x == math.huge or x == -math.huge then
        util.fail(where, "sampler: step %d's coefficients are not finite (%s); the %s schedule of this description "
          .. "cannot be run (num_train_timesteps %s, beta_start %s, beta_end %s)", i - 1, tostring(x), sched.kind,
          tostring(v.sampler.num_train_timesteps), tostring(v.sampler.beta_start), tostring(v.sampler.beta_end))
      end
    end
  end
  local P = fam.cls.build(v)
  local d = v.dims
  if sched.n_state > 0 then -- the sampler's own state (PNDM history, guided output), latent-sized
    P:buffer("sampler.state", { sched.n_state, d.Bp, d.Cin, d.Tx, d.Hx, d.Wx }, { kind = "io", role = "state", dims = "state, Bp, Cin, Tx, Hx, Wx" })
  end
  for k, w in ipairs(v.extra_weights) do -- in the checkpoint but not read by inference
    local shape = {}
    for i, x in ipairs(w.shape) do
      shape[i] = type(x) == "string" and v.config[x] or x
      if math.type(shape[i]) ~= "integer" or shape[i] < 1 then
        util.fail(fam.where({ "extra_weights", k, "shape", i }), "extra_weights.%d.shape.%d: %s is not a positive "
          .. "integer config field", k, i, tostring(x))
      end
    end
    P:weight(w.name, shape)
  end
  P:layout_weights()
  P.cache_bytes = d.B * d.Nl * d.C * P.st_bytes -- every PAB cache holds one [B, N/sp, C] module output
  local cells = sched.K * #P.modules
  if cells > M.MAX_PAB_CELLS then
    v.fail_size(string.format("the PAB table would have %d cells (%d model calls x %d modules), more than %d",
      cells, sched.K, #P.modules, M.MAX_PAB_CELLS))
  end
  local tables = pab.bake(v.pab, sched.all_timesteps, P.modules, sched.counter_steps, v.fail_pab)
  -- FLOPs of each module's compute branch and of a whole all-compute step (bench and reports)
  P.step_flops = 0
  for _, op in ipairs(P:linear_ops("step")) do
    if op.kind ~= "pab_reuse" then P.step_flops = P.step_flops + op.flops end
  end
  for _, item in ipairs(P.ops.step) do
    if item.group then
      item.module.flops = 0
      for _, op in ipairs(item.compute) do item.module.flops = item.module.flops + op.flops end
    end
  end
  if tables.n_patterns > 255 then v.fail_pab("more than 255 distinct PAB rows") end
  local comm = dsp.schedule(P, tables, v)
  local plan = finish(P, tables)
  return { sched = sched, program = P, pab = tables, comm = comm, plan = plan }
end

return M
