-- bake.lua: the generator's pipeline for one resolved variant, from description to memory plan,
-- by the family's kind. A network: op program, weight layout, memory plan (overlap-checked). A
-- denoiser adds its sampler, cache and communication tables (bake_denoiser.lua). main.lua emits
-- the result; the tests bake variants the same way. Not here: emission.
local denoiser = require("bake_denoiser")
local plan_mod = require("plan")

local M = {}

M.CUDA_WORKSPACE_BYTES = 32 * 1024 * 1024 -- what cuBLASLt's documentation advises for Hopper

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
-- errors (a denoiser's). Returns { program, plan }, and a denoiser's sched, pab and comm.
function M.variant(fam, v, where)
  if fam.cls.kind == "network" then return M.network(fam, v) end
  return denoiser.variant(fam, v, where, function(P, tables) return finish(P, v, tables) end)
end

return M
