-- bake.lua: the generator's pipeline for one resolved variant, from description to memory plan,
-- by the family's kind. A network: op program, weight layout, memory plan. A denoiser on top:
-- sampler schedule, the sampler's state and unused checkpoint tensors, PAB tables, FLOPs per
-- module, communication schedule. Every plan is overlap-checked. main.lua emits the result; the
-- tests bake variants the same way. Not here: emission.
local dsp = require("dsp")
local pab = require("pab")
local plan_mod = require("plan")
local util = require("util")

local M = {}

M.CUDA_WORKSPACE_BYTES = 32 * 1024 * 1024 -- what cuBLASLt's documentation advises for Hopper
M.MAX_PAB_CELLS = 1 << 18                  -- model calls x PAB modules: the size of the static table

local samplers = { rflow = require("rflow"), ddim = require("ddim"), pndm = require("pndm") }

-- The device workspace, the weight layout and the memory plan of a built program (tables: the
-- PAB tables, or nil).
local function finish(P, v, tables)
  if v.backend == "cuda" then -- cuBLASLt's workspace, planned like any persistent buffer
    P:buffer("cuda.workspace", { M.CUDA_WORKSPACE_BYTES // 4 }, { kind = "device", dtype = "f32", dims = "bytes / 4" })
  end
  local plan = plan_mod.build(P, tables)
  if plan.arena_bytes > P.MAX_BYTES then
    v.fail_size(string.format("the arena needs %.3g TiB, more than the %.3g TiB cap", plan.arena_bytes / 2^40,
      P.MAX_BYTES / 2^40))
  end
  local bad = plan_mod.check(P, plan)
  if bad then error("plan: internal: " .. bad) end
  return plan
end

-- A network (no sampler): returns { program, plan }.
function M.network(fam, v)
  local P = fam.cls.build(v)
  P:layout_weights()
  return { program = P, plan = finish(P, v, nil) }
end

-- fam: the loaded description; v: a resolved variant; where: the source position of sampler
-- errors. Returns { sched, program, pab, comm, plan } (a network: { program, plan }).
function M.variant(fam, v, where)
  if fam.cls.kind == "network" then return M.network(fam, v) end
  local sched = samplers[v.sampler.kind].bake(v, where)
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
  P.cache_bytes = d.B * d.Nl * d.C * P.st_bytes -- every PAB cache holds one [B, N/P, C] module output
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
  local plan = finish(P, v, tables)
  return { sched = sched, program = P, pab = tables, comm = comm, plan = plan }
end

return M
