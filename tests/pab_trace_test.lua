-- tests/pab_trace_test.lua: the generator's PAB tables against upstream, decision by decision:
-- the pab_trace.json of every golden fixture (both PAB runs: what VideoSys computed, broadcast or
-- saved, per call, block and attention kind), and the released presets' published tables
-- (docs/upstream.md#pab-worked-example, #latte-1-pab, #open-sora-plan-pab).
-- Run from the repository root: lua5.4 tests/pab_trace_test.lua. Prints ok / not ok lines.
dofile("gen/paths.lua")("")
require("strict")
local describe = require("describe")
local json = require("json")
local pab = require("pab")

local tap = dofile("tests/tap.lua")
local check = tap.check

-- Bakes a named variant: schedule, program modules and PAB tables.
local function bake(model, variant)
  local fam = describe.load_family(model)
  local v = describe.named(fam, variant)
  local baked = require("bake").variant(fam, v, model)
  local sched, P, t = baked.sched, baked.program, baked.pab
  local index = {}
  for m, mod in ipairs(P.modules) do index[mod.name] = m end
  return v, sched, P, t, index
end

-- ---- upstream traces ----------------------------------------------------------------------------

-- Module names of a trace block entry: the self-attention, cross-attention and MLP of the block.
local names = {
  ["opensora-v1.2"] = { spatial = "spatial_blocks", temporal = "temporal_blocks", attn = "attn", cross = "cross_attn", mlp = "mlp" },
  latte = { spatial = "transformer_blocks", temporal = "temporal_transformer_blocks", attn = "attn1", cross = "attn2", mlp = "ff" },
}
names["opensora-plan-v1.1"] = names.latte

local function compare_trace(family, run, variant)
  local trace = assert(json.decode_file("tests/golden/" .. family .. "/pab_trace.json"))[run]
  local _, sched, _, t, index = bake("models/" .. family .. ".lua", variant)
  local n = names[family]
  local mismatches, decisions = {}, 0
  local function expect(step, module, field, want, got)
    decisions = decisions + 1
    if want ~= got and #mismatches < 5 then
      mismatches[#mismatches + 1] = string.format("step %d %s %s: upstream %s, ditc %s", step, module, field, tostring(want), tostring(got))
    elseif want ~= got then mismatches.more = (mismatches.more or 0) + 1 end
  end
  check(#trace.steps == sched.K, string.format("%s %s: %d model calls, as upstream", family, run, sched.K),
    string.format("trace has %d calls", #trace.steps))
  for i, step in ipairs(trace.steps) do
    expect(step.step, "timestep", "value", math.floor(step.timestep), sched.tau[i])
    for _, blk in ipairs(step.blocks) do
      local prefix = string.format("%s.%d.", n[blk.block_type], blk.block_idx)
      for _, kind in ipairs({ "attn", "cross", "mlp" }) do
        if blk[kind] ~= nil then
          local m = index[prefix .. n[kind]]
          if not m then expect(step.step, prefix .. n[kind], "module", "present", "missing")
          else
            expect(step.step, prefix .. n[kind], kind, blk[kind], t.decision[i][m])
            if blk[kind] == "broadcast" and kind == "mlp" then
              expect(step.step, prefix .. n[kind], "reused timestep", blk.mlp_reuses_output_of_timestep, t.mlp_src[i][m].key)
            end
          end
        end
      end
    end
  end
  local detail = table.concat(mismatches, "; ") .. (mismatches.more and string.format(" (+%d more)", mismatches.more) or "")
  check(#mismatches == 0, string.format("%s %s: %d decisions equal upstream's trace", family, run, decisions), detail)
end

for _, family in ipairs({ "opensora-v1.2", "latte", "opensora-plan-v1.1" }) do
  compare_trace(family, "sample_pab", "fixture")
  compare_trace(family, "sample_pab_aggressive", "fixture-aggressive")
end

-- ---- released presets -------------------------------------------------------------------------

-- Letters per step (C compute, W compute+write, R reuse) of the first module of a kind.
local function letters(t, P, kind, K)
  local m
  for i, mod in ipairs(P.modules) do if mod.kind == kind then m = i break end end
  local out = {}
  for i = 1, K do out[i] = ({ [0] = "C", [1] = "W", [2] = "R" })[t.op[i][m].op] end
  return table.concat(out)
end

local function reuse_count(t, P, kind, K)
  local n = 0
  for m, mod in ipairs(P.modules) do
    if mod.kind == kind then for i = 1, K do if t.op[i][m].op == pab.REUSE then n = n + 1 end end end
  end
  return n
end

do -- Open-Sora 1.2, 480p 9:16, 51 frames, 30 steps, bf16 (docs/upstream.md#pab-worked-example, #open-sora-12-timesteps)
  local _, s, P, t = bake("models/opensora-v1.2.lua", "480p-9x16-51f")
  local want_tau = "1000 992 984 976 968 960 952 940 932 920 908 892 880 864 848 828 808 788 764 736 708 676 636 596 548 492 426 350 258 143"
  check(table.concat(s.tau, " ") == want_tau, "Open-Sora 480p-9x16-51f: int(bf16(t)) equals docs/upstream.md#open-sora-12-timesteps", table.concat(s.tau, " "))
  local want = {
    spatial = "CCCCCCCCWRWRWRWRWRWRWRWRWRCCCC",
    temporal = "CCCCCCCCWRRRWRRRWRRRWRRRWRCCCC",
    cross = "CCCCCCCCWRRRWRRRRRWRRRRRWRCCCC",
  }
  for kind, w in pairs(want) do
    local got = letters(t, P, kind, s.K)
    check(got == w, "Open-Sora 480p-9x16-51f: " .. kind .. " ops equal docs/upstream.md#pab-worked-example", got)
  end
  check(reuse_count(t, P, "spatial", s.K) == 9 * 28 and reuse_count(t, P, "temporal", s.K) == 13 * 28
    and reuse_count(t, P, "cross", s.K) == 14 * 56, "Open-Sora 480p-9x16-51f: reused spatial 9/30, temporal 13/30, cross 14/30 per module")
  -- MLP: blocks 0-4 of both kinds save at steps 13/17/21 and reuse the next two; blocks 5-27 compute
  local bad = {}
  for m, mod in ipairs(P.modules) do
    if mod.kind == "mlp" then
      for i = 1, s.K do
        local step, op = i - 1, t.decision[i][m]
        local want_op = "compute"
        if mod.block_idx <= 4 then
          if step == 13 or step == 17 or step == 21 then want_op = "compute+save"
          elseif step == 14 or step == 15 or step == 18 or step == 19 or step == 22 or step == 23 then want_op = "broadcast" end
        end
        if op ~= want_op and #bad < 3 then bad[#bad + 1] = string.format("step %d %s: %s", step, mod.name, op) end
      end
    end
  end
  check(#bad == 0, "Open-Sora 480p-9x16-51f: MLP save at steps 13/17/21, reuse 14-15/18-19/22-23, blocks 0-4 only", table.concat(bad, "; "))
end

do -- Latte-1, 16x512x512, 50 DDIM steps (docs/upstream.md#latte-1-pab)
  local _, s, P, t = bake("models/latte.lua", "16x512x512")
  local table27 = "CCC CCC CCC CCC CCC CCC CCC CCC CCC CCC CBB BBB CCC BBB CBB BCB CBB BBB CCC BBB CBB BCB CBB BBB CCC "
    .. "BBB CBB BCB CBB BBB CCC BBB CBB BCB CBB BBB CCC BBB CBB BCB CBB BBB CCC BBB CCC CCC CCC CCC CCC CCC"
  local got = {}
  local firsts = {}
  for _, kind in ipairs({ "spatial", "temporal", "cross" }) do
    for m, mod in ipairs(P.modules) do if mod.kind == kind then firsts[kind] = m break end end
  end
  for i = 1, s.K do
    local cell = ""
    for _, kind in ipairs({ "spatial", "temporal", "cross" }) do
      cell = cell .. (t.decision[i][firsts[kind]] == "broadcast" and "B" or "C")
    end
    got[i] = cell
  end
  check(table.concat(got, " ") == table27, "Latte 16x512x512: spatial/temporal/cross decisions equal docs/upstream.md#latte-1-pab", table.concat(got, " "))
  check(reuse_count(t, P, "spatial", s.K) == 17 * 28 and reuse_count(t, P, "temporal", s.K) == 23 * 28
    and reuse_count(t, P, "cross", s.K) == 28 * 28, "Latte 16x512x512: reused spatial 17/50, temporal 23/50, cross 28/50 per module")
end

do -- Open-Sora-Plan v1.1, 65x512x512, PNDM 150 steps = 159 calls (docs/upstream.md#open-sora-plan-pab)
  local _, s, P, t = bake("models/opensora-plan-v1.1.lua", "65x512x512")
  check(s.K == 159 and table.concat(s.tau, " "):sub(1, 59) == "894 891 891 888 888 885 885 882 882 879 879 876 876 870 864",
    "Open-Sora-Plan 65x512x512: 159 model calls starting 894 891 891 888 ... 876 876 870 864")
  check(reuse_count(t, P, "spatial", s.K) == 63 * 28 and reuse_count(t, P, "temporal", s.K) == 94 * 28
    and reuse_count(t, P, "cross", s.K) == 104 * 28, "Open-Sora-Plan 65x512x512: reused spatial 63, temporal 94, cross 104 of 159 calls per module")
end

tap.finish("pab_trace_test")
