-- tests/gen_test.lua: generator unit tests: timesteps with upstream rounding (fixtures,
-- docs/upstream.md#open-sora-12-timesteps), PAB tables against an independent stateful emulation
-- of upstream's pab_mgr on random configs (docs/upstream.md#testing-against-upstream item 1), neutral configs (item 3),
-- invariants and the memory-plan overlap checker for every named variant, description errors
-- with file:line, and deterministic, fresh generated files in out/.
-- Run from the repository root: lua5.4 tests/gen_test.lua. Prints ok / not ok lines.
-- The PAB-vs-upstream-trace checks live in tests/pab_trace_test.lua.
dofile("gen/paths.lua")("")
require("strict")
local describe = require("describe")
local fp = require("fp")
local json = require("json")
local pab = require("pab")
local plan = require("plan")
local samplers = { rflow = require("rflow"), ddim = require("ddim"), pndm = require("pndm") }
local bakery = require("bake")

local tap = dofile("tests/tap.lua")
local check = tap.check

local function bake(fam, v)
  local sched = samplers[v.sampler.kind].bake(v, fam.path)
  local P = fam.cls.build(v)
  return sched, P
end

local sh, read = tap.sh, tap.read

local os12 = describe.load_family("models/opensora-v1.2.lua")

-- ---- timesteps ---------------------------------------------------------------------------------

do
  local meta = assert(json.decode_file("tests/golden/opensora-v1.2/meta.json"))
  local s = samplers.rflow.bake(describe.named(os12, "fixture"), "fixture")
  local same, ints = true, true
  for i, t in ipairs(meta.timesteps) do
    same = same and string.pack("<f", t) == string.pack("<f", s.t[i])
    ints = ints and meta.all_timesteps_int[i] == s.tau[i]
  end
  check(same and #meta.timesteps == s.K, "fixture: fp32 RFLOW timesteps equal meta.json bit for bit")
  check(ints, "fixture: int timesteps equal meta.json all_timesteps_int")
  local dt_ok = true
  for i = 1, s.K do
    local want = fp.f32(fp.f32((i < s.K) and (s.t[i] - s.t[i + 1]) or s.t[i]) / 1000)
    dt_ok = dt_ok and s.coef[i][1] == want
  end
  check(dt_ok, "fixture: dt[i] = f32(f32(t[i] - t[i+1]) / 1000)")
end

do -- docs/upstream.md#open-sora-12-timesteps: bf16 pipeline, 30 steps, 9:16
  local presets = {
    { 480, 854, 51, 4.84375, "1000 992 984 976 968 960 952 940 932 920 908 892 880 864 848 828 808 788 764 736 708 676 636 596 548 492 426 350 258 143" },
    { 480, 854, 102, 6.84375, "1000 996 988 984 980 972 964 956 948 940 932 924 912 900 888 872 856 840 820 800 772 744 712 676 632 576 512 432 328 191" },
    { 480, 854, 204, 9.6875, "1000 996 992 988 984 980 976 968 964 956 952 944 936 928 916 908 896 880 864 848 828 804 780 748 708 660 600 520 408 250" },
    { 480, 854, 192, 9.25, "1000 996 992 988 984 980 972 968 964 956 948 940 932 924 912 904 892 876 860 844 824 800 772 736 700 648 588 506 398 242" },
    { 720, 1280, 51, 7.25, "1000 996 992 984 980 972 968 960 952 944 936 928 916 904 892 880 864 848 828 808 784 756 724 688 644 592 528 446 342 200" },
    { 720, 1280, 102, 10.25, "1000 996 992 988 984 980 976 972 964 960 952 948 940 932 920 912 900 888 872 856 836 816 788 756 720 672 612 532 422 262" },
    { 360, 640, 51, 3.625, "1000 992 980 972 960 948 936 924 908 896 880 864 844 824 804 784 760 736 708 676 644 608 568 524 476 420 358 288 206 111" },
    { 240, 426, 51, 2.421875, "1000 984 972 956 940 924 908 888 868 848 828 808 784 760 736 708 680 648 616 584 548 510 468 424 378 326 272 212 147 77" },
  }
  for _, p in ipairs(presets) do
    local v = describe.resolve(os12, "preset", { height = p[1], width = p[2], num_frames = p[3] },
      function() return "test" end, {})
    local s = samplers.rflow.bake(v, "test")
    check(s.ratio == p[4] and table.concat(s.tau, " ") == p[5],
      string.format("Appendix A %dx%d, %d frames: ratio %g and tau list", p[1], p[2], p[3], p[4]),
      string.format("ratio %s, tau %s", tostring(s.ratio), table.concat(s.tau, " ")))
  end
end

do -- x_mask: a transformed t_0 one ulp above 1000 selects the timestep-0 branch, update discarded
  local v = describe.resolve(os12, "tiny", { height = 8, width = 16, num_frames = 17, dtype = "fp32",
    latent = { 5, 2, 2 } }, function() return "test" end, {})
  local s = samplers.rflow.bake(v, "test")
  check(s.t[1] > 1000 and not s.update[1] and s.t_embed[1] == 0 and s.update[2] and s.t_embed[2] == s.t[2],
    "x_mask: t_0 = " .. fp.f32_str(s.t[1]) .. " > 1000 runs step 0 on the timestep-0 branch and discards its update")
end

-- ---- PAB: an independent emulation of upstream's stateful manager --------------------------------

-- Stateful oracle: one counter per module, advanced on every call and wrapped at `steps`; MLP
-- store dict with save / reuse / delete; returns per call the list of decisions, or the error
-- upstream raises.
local function oracle(cfg, all, modules, steps)
  local counters, stores, out = {}, { spatial = {}, temporal = {} }, {}
  local on = cfg.spatial.broadcast or cfg.temporal.broadcast or cfg.cross.broadcast
  for m = 1, #modules do counters[m] = 0 end
  for i, tau in ipairs(all) do
    local row = {}
    for m, mod in ipairs(modules) do
      local d = "compute"
      if on and mod.kind ~= "mlp" then
        local k = cfg[mod.kind]
        local c = counters[m]
        if k.broadcast and c % k.range ~= 0 and k.threshold[1] < tau and tau < k.threshold[2] then d = "broadcast" end
        counters[m] = (c + 1) % steps
      elseif on and cfg.mlp_broadcast then
        local dict = (mod.block_kind == "temporal" and cfg.mlp_temporal or cfg.mlp_spatial) or {}
        local hit, range
        for _, e in ipairs(dict) do
          local idx
          for j, x in ipairs(all) do if x == e.key then idx = j break end end
          if idx then
            local slice = {}
            for j = idx, math.min(idx + e.skip_count, #all) do slice[#slice + 1] = all[j] end
            local inside = false
            for _, x in ipairs(slice) do inside = inside or x == tau end
            if inside then
              if idx + e.skip_count > #all then return nil, "IndexError" end
              hit, range = e, { all[idx], all[idx + e.skip_count] }
              break
            end
          end
        end
        local own
        for _, e in ipairs(dict) do if e.key == tau then own = e end end
        local function has(e, b) for _, x in ipairs(e.blocks) do if x == b then return true end end return false end
        local store = stores[mod.block_kind]
        if own and has(own, mod.block_idx) then
          d = "compute+save"
          store[tau .. "/" .. mod.block_idx] = true
        elseif hit and has(hit, mod.block_idx) then
          local id = range[1] .. "/" .. mod.block_idx
          if not store[id] then return nil, "ValueError" end
          if tau == range[2] then store[id] = nil end
          d = "broadcast"
        end
      end
      row[m] = d
    end
    out[i] = row
  end
  return out
end

local function random_config(rng_keys)
  local function kind()
    local lo = math.random(0, 1000)
    local hi = math.random(0, 1) == 0 and math.random(lo, 1001) or math.random(0, 1000) -- sometimes empty
    return { broadcast = math.random() < 0.8, threshold = { lo, hi }, range = math.random(1, 9) }
  end
  local function dict()
    local out = {}
    for _ = 1, math.random(0, 3) do
      local key = math.random() < 0.7 and rng_keys[math.random(#rng_keys)] or math.random(0, 1000)
      local dup = false
      for _, e in ipairs(out) do dup = dup or e.key == key end
      if not dup then
        local blocks = {}
        for b = 0, 2 do if math.random() < 0.6 then blocks[#blocks + 1] = b end end
        out[#out + 1] = { key = key, blocks = blocks, skip_count = math.random(0, 4) }
      end
    end
    return out
  end
  return { spatial = kind(), temporal = kind(), cross = kind(), mlp_broadcast = math.random() < 0.8,
    mlp_spatial = dict(), mlp_temporal = dict() }
end

do
  math.randomseed(1234)
  local modules = {}
  for b = 0, 2 do
    for _, k in ipairs({ "spatial", "temporal" }) do
      modules[#modules + 1] = { name = k .. "." .. b .. ".attn", kind = k, block_idx = b, block_kind = k }
      modules[#modules + 1] = { name = k .. "." .. b .. ".cross", kind = "cross", block_idx = b, block_kind = k }
      modules[#modules + 1] = { name = k .. "." .. b .. ".mlp", kind = "mlp", block_idx = b, block_kind = k }
    end
  end
  local schedules = {
    { samplers.rflow.bake(describe.named(os12, "fixture"), "t").tau, 30 },
    { samplers.rflow.bake(describe.named(os12, "480p-9x16-51f"), "t").tau, 30 },
    -- PNDM-like: duplicated values, more calls than `steps` (counter wrap)
    { { 894, 891, 891, 888, 888, 885, 885, 882, 882, 879, 879, 876, 876, 870, 864, 858, 852, 846, 840, 834, 828,
        700, 600, 500, 400, 300, 200, 100, 50, 0 }, 24 },
  }
  local cases, mismatch, errors = 0, nil, 0
  for n = 1, 360 do
    local sch = schedules[(n - 1) % #schedules + 1]
    local cfg = random_config(sch[1])
    local want, err = oracle(cfg, sch[1], modules, sch[2])
    local ok, got = pcall(pab.bake, cfg, sch[1], modules, sch[2], function(msg) error({ raised = msg }) end)
    cases = cases + 1
    if err then
      errors = errors + 1
      if ok or type(got) ~= "table" or not got.raised then
        mismatch = mismatch or string.format("case %d: upstream raises %s, ditc did not", n, err)
      end
    elseif not ok then
      mismatch = mismatch or string.format("case %d: ditc raised %s", n, type(got) == "table" and got.raised or tostring(got))
    else
      for i = 1, #sch[1] do
        for m = 1, #modules do
          if want[i][m] ~= got.decision[i][m] then
            mismatch = mismatch or string.format("case %d step %d %s: upstream %s, ditc %s", n, i - 1,
              modules[m].name, want[i][m], got.decision[i][m])
          end
        end
      end
    end
  end
  check(mismatch == nil, string.format("random configs: %d configs (%d where upstream raises) decide like upstream's manager", cases, errors), mismatch)
end

do -- neutral configs reproduce the all-compute baseline and keep no cache
  local fam = os12
  local v = describe.named(fam, "fixture")
  local sched, P = bake(fam, v)
  local neutral = {
    ["PAB off"] = { spatial = { broadcast = false, threshold = { 450, 930 }, range = 2 },
      temporal = { broadcast = false, threshold = { 450, 930 }, range = 4 },
      cross = { broadcast = false, threshold = { 450, 930 }, range = 6 }, mlp_broadcast = true,
      mlp_spatial = { { key = 577, blocks = { 0 }, skip_count = 2 } } },
    ["all ranges 1"] = { spatial = { broadcast = true, threshold = { 0, 1001 }, range = 1 },
      temporal = { broadcast = true, threshold = { 0, 1001 }, range = 1 },
      cross = { broadcast = true, threshold = { 0, 1001 }, range = 1 }, mlp_broadcast = false },
    ["empty windows"] = { spatial = { broadcast = true, threshold = { 900, 900 }, range = 2 },
      temporal = { broadcast = true, threshold = { 800, 100 }, range = 3 },
      cross = { broadcast = true, threshold = { 999, 1000 }, range = 2 }, mlp_broadcast = false },
    ["MLP keys absent from the schedule"] = { spatial = { broadcast = true, threshold = { 0, 0 }, range = 2 },
      temporal = { broadcast = false, threshold = { 0, 0 }, range = 2 },
      cross = { broadcast = false, threshold = { 0, 0 }, range = 2 }, mlp_broadcast = true,
      mlp_spatial = { { key = 1, blocks = { 0, 1 }, skip_count = 2 } },
      mlp_temporal = { { key = 998, blocks = { 0, 1 }, skip_count = 2 } } },
  }
  for name, cfg in pairs(neutral) do
    local t = pab.bake(cfg, sched.all_timesteps, P.modules, sched.counter_steps, error)
    local all_compute, slots = true, 0
    for i = 1, sched.K do for m = 1, #P.modules do all_compute = all_compute and t.op[i][m].op == pab.COMPUTE end end
    for m = 1, #P.modules do slots = slots + #t.slots[m] end
    check(all_compute and slots == 0, "neutral config (" .. name .. "): every op computes, no cache slot")
  end
end

do -- a PAB config in VideoSys' own field names (the fixture's sample_pab_aggressive, meta.json)
  local v1 = describe.named(os12, "fixture", { pab = "tests/data/pab-aggressive.json", name = "fx-json" })
  local v2 = describe.named(os12, "fixture-aggressive")
  local t1 = bakery.variant(os12, v1, "t").pab
  local t2 = bakery.variant(os12, v2, "t").pab
  local same = #t1.decision == #t2.decision
  for i = 1, #t1.decision do
    for m = 1, #t1.decision[i] do same = same and t1.decision[i][m] == t2.decision[i][m] end
  end
  check(same, "--pab FILE.json (VideoSys PABConfig names) bakes the same table as the description's fixture-aggressive")
end

-- ---- invariants and memory plans of every named variant -------------------------------------------

for _, model in ipairs({ "models/opensora-v1.2.lua", "models/latte.lua", "models/opensora-plan-v1.1.lua" }) do
  local fam = describe.load_family(model)
  local names = {}
  for n in pairs(fam.variants) do names[#names + 1] = n end
  table.sort(names)
  for _, name in ipairs(names) do
    local v = describe.named(fam, name)
    local baked = bakery.variant(fam, v, fam.path)
    local sched, P, t, pl = baked.sched, baked.program, baked.pab, baked.plan
    local id = fam.family .. "/" .. name
    check(plan.check(P, pl) == nil, id .. ": memory plan passes the overlap checker", plan.check(P, pl))
    local bad
    for m = 1, #P.modules do
      local reuses, last_write = 0, {}
      for i = 1, sched.K do
        local o = t.op[i][m]
        if o.op == pab.WRITE then last_write[o.slot] = i end
        if o.op == pab.REUSE then
          reuses = reuses + 1
          if not last_write[o.slot] then bad = bad or (P.modules[m].name .. " reuses before a write") end
        end
      end
      if (reuses > 0) ~= (#t.slots[m] > 0) then bad = bad or (P.modules[m].name .. ": caches exist iff the module is reused") end
    end
    check(bad == nil, id .. ": every reuse follows a write; caches only for reused modules", bad)
    local ptxt = read("out/" .. fam.family .. "/" .. name .. "/plan.txt") or ""
    check(tonumber(ptxt:match("arena (%d+) bytes")) == pl.arena_bytes,
      id .. ": plan.txt states the planned arena size (" .. pl.arena_bytes .. " bytes)")
    if name == "fixture" then -- the checker must catch a corrupted plan
      local victim
      for _, b in ipairs(P.buffer_list) do if b.region == "transient" and b.phase == "step" then victim = b break end end
      local other
      for _, b in ipairs(P.buffer_list) do
        if b.region == "transient" and b.phase == "step" and b ~= victim and b.first <= victim.last and victim.first <= b.last then
          other = b
          break
        end
      end
      local saved = victim.offset
      victim.offset = other.offset
      check(plan.check(P, pl) ~= nil, id .. ": the overlap checker reports two live buffers moved onto each other")
      victim.offset = saved
    end
  end
end

-- ---- CUDA builds: storage-typed memory plans, one graph per distinct PAB row, fused ops -----------

-- Distinct rows: pattern[i] is the first-appearance number of step i's row, so two steps share a
-- pattern exactly when their rows are equal, and every pattern below n_patterns occurs.
for _, model in ipairs({ "models/opensora-v1.2.lua", "models/latte.lua", "models/opensora-plan-v1.1.lua" }) do
  local fam = describe.load_family(model)
  for _, name in ipairs({ "fixture", "fixture-aggressive" }) do
    local v = describe.named(fam, name)
    local b = bakery.variant(fam, v, fam.path)
    local t, K = b.pab, b.sched.K
    local function row(i)
      local cells = {}
      for m = 1, #b.program.modules do cells[m] = pab.cell(t.op[i][m]) end
      return table.concat(cells, ",")
    end
    local bad, seen, next_new = nil, {}, 0
    for i = 1, K do
      for j = 1, i - 1 do
        if (row(i) == row(j)) ~= (t.pattern[i] == t.pattern[j]) then bad = bad or string.format("steps %d and %d", j - 1, i - 1) end
      end
      if not seen[t.pattern[i]] then
        if t.pattern[i] ~= next_new then bad = bad or string.format("step %d: pattern %d out of order", i - 1, t.pattern[i]) end
        seen[t.pattern[i]], next_new = true, next_new + 1
      end
    end
    check(bad == nil and next_new == t.n_patterns, string.format("%s/%s: %d distinct PAB rows numbered by first "
      .. "appearance, equal rows share a pattern", fam.family, name, t.n_patterns), bad)
  end
end

-- cuBLASLt alignment: in every named variant's CUDA plan (its family's storage) every buffer and
-- cache slot starts on a 256-byte boundary and every weight on a 128-element one (256 bytes in
-- 16-bit storage), the alignment cuBLASLt's heuristics assume of an operand.
for _, model in ipairs({ "models/opensora-v1.2.lua", "models/latte.lua", "models/opensora-plan-v1.1.lua" }) do
  local fam = describe.load_family(model)
  local names = {}
  for n in pairs(fam.variants) do names[#names + 1] = n end
  table.sort(names)
  local bad, count = nil, 0
  for _, name in ipairs(names) do
    local v = describe.named(fam, name)
    if v.sp == 1 and not v.cfg_parallel then -- CUDA builds are single-rank
      v.backend, v.storage = "cuda", v.dtype == "fp32" and "bf16" or v.dtype
      local b = bakery.variant(fam, v, fam.path)
      for _, buf in ipairs(b.program.buffer_list) do
        count = count + 1
        if buf.offset % 256 ~= 0 then bad = bad or (name .. ": buffer " .. buf.name .. " at " .. buf.offset) end
      end
      for _, it in ipairs(b.plan.slot_items) do
        count = count + 1
        if it.offset % 256 ~= 0 then bad = bad or (name .. ": cache " .. it.name .. " at " .. it.offset) end
      end
      for _, w in ipairs(b.program.weight_list) do
        count = count + 1
        if w.offset % 128 ~= 0 then bad = bad or (name .. ": weight " .. w.name .. " at element " .. w.offset) end
      end
    end
  end
  check(bad == nil and count > 0, string.format("%s: every buffer, cache slot and weight of every CUDA plan is 256-byte "
    .. "aligned (%d checked)", fam.family, count), bad)
end

-- A CUDA variant in bf16 storage plans storage buffers and caches at 2 bytes an element, keeps
-- io buffers and tables in fp32, and holds cuBLASLt's workspace in the persistent region.
do
  local v32 = describe.named(os12, "480p-9x16-51f")
  local vbf = describe.named(os12, "480p-9x16-51f")
  vbf.backend, vbf.storage = "cuda", "bf16"
  local b32, bbf = bakery.variant(os12, v32, os12.path), bakery.variant(os12, vbf, os12.path)
  local bad
  for _, b in ipairs(bbf.program.buffer_list) do
    local want = b.elems * (b.dtype == "st" and 2 or 4)
    if b.bytes ~= want then bad = bad or (b.name .. ": " .. b.bytes .. " bytes, want " .. want) end
    if b.kind == "io" and b.dtype == "st" then bad = bad or (b.name .. ": an io buffer in storage") end
  end
  for _, name in ipairs({ "pos_embed", "rope.cos", "rope.sin", "fps.in", "in.x", "in.t", "out", "sampler.z" }) do
    local b = bbf.program.buffers[name]
    if not b or b.dtype ~= "f32" then bad = bad or (name .. " is not fp32") end
  end
  check(bad == nil, "opensora-v1.2/480p-9x16-51f cuda bf16: storage buffers 2 bytes an element, io and tables fp32", bad)
  local d = v32.dims
  check(bbf.program.cache_bytes == d.B * d.Nl * d.C * 2 and b32.program.cache_bytes == d.B * d.Nl * d.C * 4,
    "a PAB cache slot holds [B, N, C] storage elements (2 bytes in bf16, 4 on the CPU)")
  local ws = bbf.program.buffers["cuda.workspace"]
  check(ws and ws.region == "persistent" and ws.bytes == bakery.CUDA_WORKSPACE_BYTES and b32.program.buffers["cuda.workspace"] == nil,
    "the cuBLASLt workspace is a persistent arena buffer of CUDA builds only")
  check(plan.check(bbf.program, bbf.plan) == nil, "the bf16 plan passes the overlap checker", plan.check(bbf.program, bbf.plan))
  check(bbf.plan.arena_bytes < b32.plan.arena_bytes * 0.55,
    string.format("the bf16 arena is about half the fp32 one (%d vs %d bytes)", bbf.plan.arena_bytes, b32.plan.arena_bytes))
  local fused, norm_only
  for _, op in ipairs(bbf.program:linear_ops("step")) do
    if op.kind == "qk_rmsnorm_rope" and op.name:find("^temporal_blocks%.") then fused = (fused or 0) + 1 end
    if op.kind == "qk_rmsnorm" and op.name:find("^spatial_blocks%.") then norm_only = (norm_only or 0) + 1 end
  end
  check(fused == d.depth and norm_only == d.depth, string.format("STDiT3: qk RMSNorm + RoPE fused in all %d temporal "
    .. "attentions, RMSNorm alone in the spatial ones (%s, %s)", d.depth, tostring(fused), tostring(norm_only)))
end

-- ---- description and config.json errors name file:line ---------------------------------------------

local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -p " .. tmp .. "/out"))
local original = read("models/opensora-v1.2.lua")

local function description_error(what, from, to, field_pattern, nth)
  local text, n = original:gsub(from, to, 1)
  assert(n == 1, "test setup: pattern not found: " .. from)
  local path = tmp .. "/model.lua"
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  local line, seen = 0, 0
  local i = 0
  for l in (text .. "\n"):gmatch("([^\n]*)\n") do
    i = i + 1
    if line == 0 and l:find(field_pattern) then
      seen = seen + 1
      if seen == (nth or 1) then line = i end
    end
  end
  os.execute("rm -rf " .. tmp .. "/out/*")
  local rc, out = sh(string.format("lua5.4 gen/main.lua --model %s --variant fixture --out %s/out", path, tmp))
  local want = string.format("gen: error: %s:%d:", path, line)
  local files = select(2, sh("ls " .. tmp .. "/out | wc -l"))
  check(rc == 1 and out:sub(1, #want) == want and select(2, out:gsub("\n", "")) == 1 and tonumber(files) == 0,
    "description error (" .. what .. ") is one line at file:" .. line .. ", exit 1, nothing written", out)
end
description_error("depth = -1", "depth = 28,", "depth = -1,", "depth = %-1")
description_error("unknown field", "mlp_ratio = 4.0,", "mlp_ratio = 4.0, dpeth = 3,", "dpeth")
description_error("threshold with 3 entries", "threshold = { 450, 930 }, range = 2", "threshold = { 450, 930, 1 }, range = 2",
  "450, 930, 1")
description_error("MLP entry without skip_count", "{ key = 676, blocks = { 0, 1, 2, 3, 4 }, skip_count = 2 },",
  "{ key = 676, blocks = { 0, 1, 2, 3, 4 } },", "blocks = { 0, 1, 2, 3, 4 } }")
description_error("duplicate MLP key", "{ key = 788, blocks = { 0, 1, 2, 3, 4 }, skip_count = 2 },",
  "{ key = 676, blocks = { 0, 1, 2, 3, 4 }, skip_count = 2 },", "{ key = 676,", 2)
description_error("num_heads not dividing hidden_size", "depth = 2, hidden_size = 96, num_heads = 4,",
  "depth = 2, hidden_size = 96, num_heads = 5,", "num_heads = 5")

-- Writes text to tmp/NAME and returns that path and the line where key first stands (0: none).
local function write_with_line(name, text, key)
  local path = tmp .. "/" .. name
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  local line, i = 0, 0
  for l in (text .. "\n"):gmatch("([^\n]*)\n") do
    i = i + 1
    if line == 0 and l:find(key, 1, true) then line = i end
  end
  return path, line
end

local function config_error(what, text, key)
  local path, line = write_with_line("config.json", text, key)
  local rc, out = sh(string.format("lua5.4 gen/main.lua --model models/opensora-v1.2.lua --config %s --name x "
    .. "--height 64 --width 96 --frames 17 --out %s/out", path, tmp))
  local want = string.format("gen: error: %s:%d:", path, line)
  check(rc == 1 and out:sub(1, #want) == want, "config.json error (" .. what .. ") names " .. path .. ":" .. line, out)
end
local good_json = read("tests/data/stdit3-odd.json")
config_error("wrong model_type", (good_json:gsub('"model_type": "STDiT3"', '"model_type": "Latte"')), '"model_type"')
config_error("unknown key", (good_json:gsub('"depth": 3,', '"depth": 3,\n  "depht": 3,')), '"depht"')
config_error("trailing comma", (good_json:gsub('"transformers_version": "4.36.2"', '"transformers_version": "4.36.2",')), "}")
config_error("skip_y_embedder true", (good_json:gsub('"skip_y_embedder": false', '"skip_y_embedder": true')), "skip_y_embedder")

local function pab_json_error(what, text, key)
  local path, line = write_with_line("pab.json", text, key)
  local rc, out = sh(string.format("lua5.4 gen/main.lua --model models/opensora-v1.2.lua --variant fixture --pab %s "
    .. "--name x --out %s/out", path, tmp))
  local want = string.format("gen: error: %s:%d:", path, line)
  check(rc == 1 and out:sub(1, #want) == want, "PAB config JSON error (" .. what .. ") names " .. path .. ":" .. line, out)
end
local pab_json = read("tests/data/pab-aggressive.json")
pab_json_error("unknown field", (pab_json:gsub('"spatial_range": 3', '"spatial_range": 3,\n  "spatial_gap": 2')), '"spatial_gap"')
pab_json_error("non-integer MLP key", (pab_json:gsub('"577"', '"t577"')), '"t577"')
pab_json_error("range 0", (pab_json:gsub('"temporal_range": 3', '"temporal_range": 0')), '"temporal_range"')

-- ---- hostile values (issue 9 item 14): one line at the field's line, never a traceback -------------

local function json_error(what, model, base, text, key, sizes, want_msg)
  local path, line = write_with_line("hostile.json", text, key)
  os.execute("rm -rf " .. tmp .. "/hostile")
  local rc, out = sh(string.format("lua5.4 gen/main.lua --model %s --config %s --name x %s --out %s/hostile", model,
    path, sizes, tmp))
  local want = line > 0 and string.format("gen: error: %s:%d: ", path, line) or string.format("gen: error: %s: ", path)
  check(rc == 1 and out:sub(1, #want) == want and select(2, out:gsub("\n", "")) == 1
    and (not want_msg or out:find(want_msg, 1, true)) and not io.open(tmp .. "/hostile/forward.c"),
    string.format("config.json %s: one error line at %s, exit 1, nothing written", what,
      line > 0 and ("the line of " .. key) or "the file"), out)
end
local os12_sizes = "--height 64 --width 96 --frames 17 --pipeline-dtype fp32"
local latte_json = read("tests/data/latte-config.json")
local osp_json = read("tests/data/osp-config.json")
local latte_sizes = "--height 48 --width 80 --frames 3 --text-len 6 --steps 10"
local osp_sizes = "--height 64 --width 48 --frames 13 --text-len 7 --steps 12"
for _, c in ipairs({
  { "mlp_ratio 2^63", "9223372036854775808", "must be <= 64" }, { "mlp_ratio 1e300", "1e300", "must be <= 64" },
}) do
  json_error(c[1], "models/opensora-v1.2.lua", "odd", (good_json:gsub('"mlp_ratio": 4.0', '"mlp_ratio": ' .. c[2])),
    '"mlp_ratio"', os12_sizes, c[3])
end
json_error("model_max_length 2^53+1", "models/opensora-v1.2.lua", "odd",
  (good_json:gsub('"model_max_length": 10', '"model_max_length": 9007199254740993')), '"model_max_length"', os12_sizes,
  "must be <= 65536")
json_error("depth 100000 (a bound, not minutes of generating)", "models/opensora-v1.2.lua", "odd",
  (good_json:gsub('"depth": 3', '"depth": 100000')), '"depth"', os12_sizes, "must be <= 256")
json_error("interpolation_scale_1d 1e300", "models/opensora-plan-v1.1.lua", "osp",
  (osp_json:gsub('"interpolation_scale_1d": null', '"interpolation_scale_1d": 1e300')), '"interpolation_scale_1d"',
  osp_sizes, "must be <= 65536")
json_error("cross_attention_dim against heads * head dim (a cross-field check)", "models/latte.lua", "latte",
  (latte_json:gsub('"num_attention_heads": 6', '"num_attention_heads": 5')), '"cross_attention_dim"', latte_sizes,
  "must equal heads * head dim (40)")
json_error("num_heads not dividing hidden_size (a cross-field check)", "models/opensora-v1.2.lua", "odd",
  (good_json:gsub('"num_heads": 2', '"num_heads": 3')), '"num_heads"', os12_sizes, "not divisible by num_heads 3")
json_error("a buffer past the 1 TiB cap (a derived size)", "models/opensora-v1.2.lua", "odd",
  (good_json:gsub('"hidden_size": 64', '"hidden_size": 65536'):gsub('"num_heads": 2', '"num_heads": 256')), "no such key",
  "--height 65536 --width 65536 --frames 17", "more than the 1 TiB a buffer may hold")

-- ---- ignored upstream fields, PAB keys, flags (issue 15 items 6-8) -----------------------------

do
  local path = tmp .. "/sp.json"
  local text = good_json:gsub('"drop_path": 0.0,', '"drop_path": 0.0,\n  "enable_sequence_parallelism": true,')
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  local cmd = string.format("lua5.4 gen/main.lua --model models/opensora-v1.2.lua --config %s --name x %s --out %s/ign",
    path, os12_sizes, tmp)
  local rc, out = sh("(" .. cmd .. " 2>&1 >/dev/null)")
  local n = select(2, out:gsub("enable_sequence_parallelism", ""))
  check(rc == 0 and n == 1 and out:find("note: " .. path .. ":9: enable_sequence_parallelism ignored (does not affect "
    .. "inference)", 1, true), "config.json: enable_sequence_parallelism (an upstream field without effect on inference) "
    .. "is a note at its line, printed once, not an error", out)
  rc, out = sh(cmd .. " --quiet")
  check(rc == 0 and out == "", "config.json: --quiet drops the notes on ignored fields", out)
end

pab_json_error("misspelt key spatial_treshold, at its own line",
  (pab_json:gsub('"spatial_threshold"', '"spatial_treshold"')), '"spatial_treshold"')
do
  local rc, out = sh("lua5.4 gen/main.lua --model models/opensora-v1.2.lua --variant fixture --pab aggressive --name x "
    .. "--out " .. tmp .. "/pabword")
  check(rc == 1 and out:find("--pab takes default, off or a PAB config JSON file", 1, true)
    and select(2, out:gsub("\n", "")) == 1, "--pab aggressive: says that --pab takes default, off or a JSON file", out)
  rc, out = sh("lua5.4 gen/main.lua --model models/opensora-v1.2.lua --variant fixture --pab " .. tmp .. "/pab.json "
    .. "--name x --out " .. tmp .. "/pabword")
  check(out:find("spatial_treshold: unknown PABConfig field (did you mean 'spatial_threshold'?)", 1, true) ~= nil,
    "PAB JSON: a misspelt key names the field it was meant to be", out)
end

do
  local rc, out = sh("lua5.4 gen/main.lua --help")
  local missing = {}
  for _, o in ipairs({ "model", "variant", "config", "name", "height", "width", "frames", "latent", "steps", "cfg", "fps",
    "text-len", "pipeline-dtype", "dtype", "pab", "backend", "storage", "sp", "cfg-parallel", "out", "quiet", "help" }) do
    local n = select(2, out:gsub("\n  %-%-" .. o:gsub("%-", "%%-") .. "[ \n][^\n]*%S", ""))
    if n ~= 1 then missing[#missing + 1] = o end
  end
  check(rc == 0 and #missing == 0, "gen --help describes every option on one line", table.concat(missing, ", "))
  local base = "lua5.4 gen/main.lua --model models/opensora-v1.2.lua --config tests/data/stdit3-odd.json --name odd "
    .. "--height 48 --width 56 --frames 17 --latent 3,6,7 --steps 12 "
  local rc1 = sh(base .. "--pipeline-dtype bf16 --quiet --out " .. tmp .. "/pd1")
  local rc2, out2 = sh("(" .. base .. "--dtype bf16 --out " .. tmp .. "/pd2 2>&1 >/dev/null)")
  local same = read(tmp .. "/pd1/tables.c") and read(tmp .. "/pd1/tables.c") == read(tmp .. "/pd2/tables.c")
  check(rc1 == 0 and rc2 == 0 and same and select(2, out2:gsub("note: %-%-dtype is deprecated", "")) == 1,
    "--dtype is a deprecated alias of --pipeline-dtype: the same files, one note", out2)
  local sched = read(tmp .. "/pd1/schedule.txt") or ""
  check(sched:find("(pipeline dtype bf16)", 1, true) and sched:find("tau = int(timestep) in the pipeline dtype bf16", 1, true),
    "schedule.txt names the pipeline dtype as such", sched:match("[^\n]*"))
end

-- ---- schedule.txt (issue 15 item 10) ------------------------------------------------------------

do
  local s = read("out/opensora-v1.2/480p-9x16-51f-sp8/schedule.txt") or ""
  check(s:find("all-to-all): 13.08 GB per generation\n  the same metric without PAB (all 1680 all-to-alls): 23.08 GB "
    .. "per generation\n", 1, true) ~= nil,
    "480p-9x16-51f-sp8 schedule.txt: the PAB paper's volume with PAB (13.08 GB) and without (23.08 GB)")
  local fx, agg = read("out/opensora-v1.2/fixture/schedule.txt") or "", read("out/opensora-v1.2/fixture-aggressive/schedule.txt") or ""
  check(fx:find("note: no MLP spatial key (676, 788, 864) is a timestep of this schedule", 1, true)
    and not agg:find("is a timestep of this schedule", 1, true),
    "fixture schedule.txt: says its MLP keys match no timestep (the aggressive fixture's do, and says nothing)")
end

-- ---- cache kinds: a family declares its own (issue 10) --------------------------------------------

-- The Open-Sora description without its temporal blocks: it declares only spatial and cross
-- attention caches, so its PAB configs hold no temporal record.
local function spatial_cross(text)
  local n
  local subs = {
    { 'cache_kinds = { "spatial", "temporal", "cross" },', 'cache_kinds = { "spatial", "cross" },' },
    { '\n    { prefix = "temporal_blocks",[^\n]*', '' },
    { '\n    temporal = { broadcast = true, threshold = { 450, 930 }, range = 4 },', '' },
    { '\n        temporal = { broadcast = true, threshold = { 100, 990 }, range = 3 },', '' },
  }
  for _, sub in ipairs(subs) do
    text, n = text:gsub(sub[1], sub[2], 1)
    assert(n == 1, "test setup: pattern not found: " .. sub[1])
  end
  return text
end
local sc_text = spatial_cross(original)
do
  local path = write_with_line("spatial-cross.lua", sc_text, "cache_kinds")
  local fam = describe.load_family(path)
  local v = describe.named(fam, "fixture")
  local kinds = {}
  for _, m in ipairs(bakery.variant(fam, v, "t").program.modules) do kinds[m.kind] = (kinds[m.kind] or 0) + 1 end
  check(v.pab.temporal == nil and v.pab.spatial and v.pab.cross and kinds.temporal == nil and kinds.spatial == 2
    and kinds.cross == 2 and kinds.mlp == 2, "a family declaring only spatial and cross kinds: its PAB config has no "
    .. "temporal field, its modules are 2 spatial, 2 cross, 2 mlp")
  local off = describe.named(fam, "fixture", { pab = "off", name = "sc-off" })
  check(off.pab.temporal == nil and not pab.active(off.pab), "--pab off of a spatial+cross family: no temporal field, "
    .. "PAB off")
  for _, name in ipairs({ "fixture", "fixture-aggressive" }) do
    local dir = tmp .. "/sc-" .. name
    local rc, out = sh(string.format("lua5.4 gen/main.lua --model %s --variant %s --quiet --out %s", path, name, dir))
    local sched = read(dir .. "/schedule.txt") or ""
    check(rc == 0 and sched:find("\nspatial: ", 1, true) and sched:find("\ncross: ", 1, true)
      and not sched:find("\ntemporal", 1, true) and sched:find("update  spatial  cross  mlp ", 1, true)
      and sched:find("\n  cross    reused", 1, true) and not sched:find("\n  temporal", 1, true),
      "spatial+cross family, " .. name .. ": generates; schedule.txt lists spatial and cross (lines, columns, summary), "
      .. "no temporal", out)
  end
  local agg = read(tmp .. "/sc-fixture-aggressive/schedule.txt") or ""
  check(agg:find("\n  spatial  reused [1-9]") and agg:find("\n  cross    reused [1-9]"),
    "spatial+cross family, fixture-aggressive: spatial and cross attention are reused")
end

-- Writes text as a description, generates its fixture and expects one error at the first line
-- holding `key` with `msg` in it.
local function kinds_error(what, text, key, msg, pab_json)
  local path, line = write_with_line("kinds.lua", text, key)
  os.execute("rm -rf " .. tmp .. "/kinds")
  local rc, out = sh(string.format("lua5.4 gen/main.lua --model %s --variant fixture%s --out %s/kinds", path,
    pab_json and (" --name k --pab " .. pab_json) or "", tmp))
  local at = pab_json or path
  if pab_json then line = select(2, write_with_line("kinds.json", read(pab_json), key)) end
  local want = string.format("gen: error: %s:%d: ", at, line)
  check(rc == 1 and line > 0 and out:sub(1, #want) == want and out:find(msg, 1, true)
    and select(2, out:gsub("\n", "")) == 1, what .. ": one error at " .. at:match("[^/]*$") .. ":" .. line, out)
end
kinds_error("a temporal field in the PAB config of a spatial+cross family",
  (sc_text:gsub("(\n    cross = { broadcast = true, threshold = { 450, 930 }, range = 6 },)",
    "\n    temporal = { broadcast = true, threshold = { 450, 930 }, range = 4 },%1", 1)),
  "temporal = { broadcast = true, threshold = { 450, 930 }",
  'pab.temporal: "temporal" is not a cache kind of this family (cache_kinds: spatial, cross)')
kinds_error("a temporal field in a variant's PAB config of a spatial+cross family",
  (sc_text:gsub("(\n        cross = { broadcast = true, threshold = { 100, 990 }, range = 4 },)",
    "\n        temporal = { broadcast = true, threshold = { 100, 990 }, range = 3 },%1", 1)),
  "temporal = { broadcast = true, threshold = { 100, 990 }", "is not a cache kind of this family")
kinds_error("a PAB JSON with temporal fields for a spatial+cross family", sc_text, '"temporal_broadcast"',
  "temporal_broadcast: temporal is not a cache kind of this family (cache_kinds: spatial, cross)",
  "tests/data/pab-aggressive.json")
kinds_error("a declared kind no block uses", (original:gsub('\n    { prefix = "temporal_blocks",[^\n]*', '', 1)),
  "cache_kinds =",
  '"temporal" is declared but no block or cross-attention layer has that pab')
kinds_error("a block whose pab is no declared kind", (original:gsub('cache_kinds = { "spatial", "temporal", "cross" }',
  'cache_kinds = { "spatial", "cross" }', 1)), 'pab = "temporal"', 'must be one of spatial, cross, got "temporal"')
kinds_error("mlp declared as a cache kind", (original:gsub('cache_kinds = { "spatial", "temporal", "cross" }',
  'cache_kinds = { "spatial", "temporal", "cross", "mlp" }', 1)), "cache_kinds =", '"mlp" is reserved')
do -- a PAB JSON naming a kind no family here declares
  local path, line = write_with_line("joint.json", (pab_json:gsub('"cross_range": 4', '"cross_range": 4,\n  "joint_range": 2')),
    '"joint_range"')
  local rc, out = sh(string.format("lua5.4 gen/main.lua --model models/opensora-v1.2.lua --variant fixture --pab %s "
    .. "--name x --out %s/joint", path, tmp))
  local want = string.format("gen: error: %s:%d: joint_range: joint is not a cache kind of this family "
    .. "(cache_kinds: spatial, temporal, cross)", path, line)
  check(rc == 1 and out:sub(1, #want) == want, "PAB JSON: a field of an undeclared kind (joint_range) is refused naming it",
    out)
end

-- ---- determinism and freshness of out/ --------------------------------------------------------------

local files = { "forward.c", "offsets.h", "tables.c", "entry.c", "schedule.txt", "plan.txt", "manifest.txt", "gen.d" }
for _, fv in ipairs({ { "opensora-v1.2", "fixture" }, { "opensora-v1.2", "480p-9x16-51f" }, { "latte", "fixture" },
  { "opensora-plan-v1.1", "65x512x512" } }) do
  local id = fv[1] .. "/" .. fv[2]
  local dirs = {}
  for run = 1, 2 do
    dirs[run] = string.format("%s/gen%d-%s-%s", tmp, run, fv[1], fv[2])
    os.execute("mkdir -p " .. dirs[run])
    sh(string.format("lua5.4 gen/main.lua --model models/%s.lua --variant %s --out %s --quiet", fv[1], fv[2], dirs[run]))
  end
  local diff, stale, leak
  for _, name in ipairs(files) do
    local a, b = read(dirs[1] .. "/" .. name), read(dirs[2] .. "/" .. name)
    if name == "gen.d" and a and b then -- the depfile names its own output directory
      a = a:gsub(dirs[1]:gsub("%p", "%%%0"), "DIR")
      b = b:gsub(dirs[2]:gsub("%p", "%%%0"), "DIR")
    end
    if not a or a ~= b then diff = diff or name end
    if name ~= "gen.d" then
      local committed = read("out/" .. id .. "/" .. name)
      if committed ~= a then stale = stale or name end
      if a and (a:find(tmp, 1, true) or a:find("/work/", 1, true) or a:find("20%d%d%-%d%d%-%d%d")) then leak = leak or name end
    end
  end
  check(diff == nil, id .. ": generating twice gives byte-identical files", diff)
  check(stale == nil, id .. ": out/ is fresh (the generator reproduces the committed files)",
    stale and ("out/" .. id .. "/" .. stale .. " differs: run `ninja` and commit out/") or nil)
  check(leak == nil, id .. ": generated files hold no temp path, absolute path or date", leak)
end

-- ---- the CUDA builds take the CPU's PAB decisions ---------------------------------------------------
for _, fv in ipairs({ { "opensora-v1.2", "fixture" }, { "opensora-v1.2", "fixture-aggressive" }, { "latte", "fixture" },
  { "opensora-plan-v1.1", "fixture-aggressive" } }) do
  local dir = string.format("%s/pabcuda-%s-%s", tmp, fv[1], fv[2])
  local rc, out = sh(string.format("lua5.4 gen/main.lua --model models/%s.lua --variant %s --backend cuda --quiet --out %s",
    fv[1], fv[2], dir))
  local function table_of(text) return text and text:match("pab_table%[.-};") end
  local cpu_tab, cuda_tab = read("out/" .. fv[1] .. "/" .. fv[2] .. "/tables.c"), read(dir .. "/tables.c")
  check(rc == 0 and read(dir .. "/schedule.txt") == read("out/" .. fv[1] .. "/" .. fv[2] .. "/schedule.txt")
    and table_of(cuda_tab) and table_of(cuda_tab) == table_of(cpu_tab),
    fv[1] .. "/" .. fv[2] .. ": the CUDA build has the CPU build's schedule.txt and PAB table", out)
end

-- ---- gen --backend cuda --storage ---------------------------------------------------------------
do
  local rc, out = sh("lua5.4 gen/main.lua --model models/latte.lua --variant fixture --storage bf16 --out " .. tmp .. "/st0")
  check(rc ~= 0 and out:find("--storage applies to --backend cuda only", 1, true), "gen: --storage without --backend cuda is an error", out)
  rc, out = sh("lua5.4 gen/main.lua --model models/latte.lua --variant fixture --backend cuda --storage fp8 --out " .. tmp .. "/st1")
  check(rc ~= 0 and out:find("--storage must be fp32, bf16 or fp16", 1, true), "gen: an unknown --storage is an error", out)
  for _, c in ipairs({ { "", "DITC_STORAGE_F16", "fp16", "f16" }, { " --storage fp32", "DITC_STORAGE_F32", "fp32", "f32" } }) do
    local dir = tmp .. "/st-latte" .. c[3]
    rc, out = sh("lua5.4 gen/main.lua --model models/latte.lua --variant fixture --backend cuda --quiet" .. c[1] .. " --out " .. dir)
    local fwd, tab = read(dir .. "/forward.cu") or "", read(dir .. "/tables.c") or ""
    check(rc == 0 and fwd:find("#define DITC_STORAGE " .. c[2], 1, true) and fwd:find("ditc_cuda_storage_" .. c[4], 1, true)
      and tab:find('.storage = "' .. c[3] .. '"', 1, true) and fwd:find("cuda_cfg_text_io(", 1, true),
      "gen --backend cuda" .. c[1] .. ": Latte's forward.cu is built for " .. c[3] .. " storage, its fp32 negative prompt "
      .. "through cfg_text_io", out)
    local host = tonumber(tab:match("%.host_bytes = (%d+)"))
    local arena = tonumber((read(dir .. "/offsets.h") or ""):match("#define ARENA_BYTES (%d+)"))
    local io_end = 0
    for off, bytes, name in (read(dir .. "/plan.txt") or ""):gmatch("\n%s*(%d+)%s+(%d+)%s+persistent[^\n]* (%S+)") do
      if name:find("^in%.") or name == "out" or name:find("^sampler%.") then -- the io buffers
        io_end = math.max(io_end, tonumber(off) + tonumber(bytes))
      end
    end
    check(host and arena and host < arena and host >= io_end and io_end > 0,
      string.format("gen --backend cuda%s: the host holds the io buffers only (%s of %s arena bytes; io ends at %d)",
        c[1], tostring(host), tostring(arena), io_end))
  end
end

-- ---- CUDA: a residual fused with the next LayerNorm + modulate (issue 13 item 7) ---------------------

do
  local fam = describe.load_family("models/opensora-v1.2.lua")
  local function kinds(be)
    local v = describe.named(fam, "480p-9x16-51f")
    v.backend, v.storage = be, be == "cuda" and "bf16" or "fp32"
    local b = bakery.variant(fam, v, fam.path)
    local c, groups = {}, {}
    for _, op in ipairs(b.program:linear_ops("step")) do c[op.kind] = (c[op.kind] or 0) + 1 end
    for _, item in ipairs(b.program.ops.step) do if item.group then groups[#groups + 1] = item end end
    return c, b, v.dims.depth, groups
  end
  local cpu, bcpu, depth = kinds("cpu")
  local cuda, bcuda, _, groups = kinds("cuda")
  local n = 4 * depth -- per block: cross-attention -> MLP norm, MLP -> next norm (the last: the final layer's)
  check(cuda.gate_residual_ln_modulate == 2 * depth and cuda.residual_ln_modulate == 2 * depth
    and cuda.pab_reuse_ln_modulate == n and bcuda.program.fused_norms == n and cuda.ln_modulate == 1,
    string.format("opensora-v1.2/480p-9x16-51f cuda: %d residual + LayerNorm pairs fused (%d gated, %d cross-attention; "
      .. "each PAB module's reuse branch too), the first block's norm alone (%s, %s, %s, %s)", n, 2 * depth, 2 * depth,
      tostring(cuda.gate_residual_ln_modulate), tostring(cuda.residual_ln_modulate), tostring(cuda.pab_reuse_ln_modulate),
      tostring(cuda.ln_modulate)))
  check(cpu.gate_residual_ln_modulate == nil and cpu.residual_ln_modulate == nil and cpu.pab_reuse_ln_modulate == nil
    and bcpu.program.fused_norms == nil and cpu.ln_modulate == n + 1,
    "opensora-v1.2/480p-9x16-51f cpu: no pair fused (" .. tostring(cpu.ln_modulate) .. " ln_modulate ops)")
  -- the fused norm's output is what the next module's compute branch reads first, whichever branch
  -- its own module takes; its residual keeps writing the PAB cache
  local bad
  for i, g in ipairs(groups) do
    local last, reuse = g.compute[#g.compute], g.reuse[#g.reuse]
    if last.kind:find("_ln_modulate$") then
      local nxt = groups[i + 1]
      local out = last.args.out.buf
      if reuse.kind ~= "pab_reuse_ln_modulate" or reuse.args.out.buf ~= out then bad = bad or (g.name .. ": reuse branch") end
      if nxt and nxt.compute[1].reads[1] ~= out then bad = bad or (g.name .. ": next module does not read " .. out) end
      if last.writes[1] ~= "x" or last.writes[2] ~= out then bad = bad or (g.name .. ": writes") end
    end
  end
  check(bad == nil and plan.check(bcuda.program, bcuda.plan) == nil,
    "opensora-v1.2/480p-9x16-51f cuda: both branches of a fused module write the next module's norm input, and the "
    .. "plan passes the overlap checker", bad or plan.check(bcuda.program, bcuda.plan))
end

-- ---- gen --attention (cuDNN's fused SDPA on the CUDA backend) -----------------------------------
do
  local base = "lua5.4 gen/main.lua --model models/opensora-v1.2.lua --variant fixture --quiet"
  local rc, out = sh(base .. " --attention cudnn --out " .. tmp .. "/at0")
  check(rc ~= 0 and out:find("--attention applies to --backend cuda only", 1, true),
    "gen: --attention cudnn without --backend cuda is an error", out)
  rc, out = sh(base .. " --backend cuda --storage fp32 --attention cudnn --out " .. tmp .. "/at1")
  check(rc ~= 0 and out:find("--attention cudnn needs 16-bit storage", 1, true),
    "gen: --attention cudnn with fp32 storage is an error (cuDNN's SDPA has no fp32 path)", out)
  rc, out = sh(base .. " --backend cuda --attention flash --out " .. tmp .. "/at2")
  check(rc ~= 0 and out:find("--attention must be own or cudnn", 1, true), "gen: an unknown --attention is an error", out)
  local fwd = {}
  for _, a in ipairs({ "own", "cudnn" }) do
    rc, out = sh(base .. " --backend cuda --attention " .. a .. " --out " .. tmp .. "/at-" .. a)
    fwd[a] = rc == 0 and read(tmp .. "/at-" .. a .. "/forward.cu") or ""
  end
  local function count(s, pat) return select(2, s:gsub(pat, "")) end
  local own_self, own_cross = count(fwd.own, "cuda_attention%("), count(fwd.own, "cuda_cross_attention%(")
  check(own_self > 0 and own_cross > 0 and count(fwd.own, "_cudnn%(") == 0
    and count(fwd.cudnn, "cuda_attention_cudnn%(") == own_self and count(fwd.cudnn, "cuda_cross_attention_cudnn%(") == own_cross
    and count(fwd.cudnn, "cuda_attention%(") == 0 and count(fwd.cudnn, "cuda_cross_attention%(") == 0
    and fwd.cudnn:find("Attention kernels: cudnn", 1, true) and fwd.own:find("Attention kernels: own", 1, true),
    string.format("gen --backend cuda --attention cudnn: every attention (%d self, %d cross) calls the cuDNN entry, "
      .. "and the default calls the own kernels", own_self, own_cross))
  local strip = function(s) return (s:gsub("_cudnn%(", "("):gsub("[^\n]*Attention kernels[^\n]*", ""):gsub("^[^\n]*\n", "")) end
  check(strip(fwd.cudnn) == strip(fwd.own), "gen --attention cudnn: the forward differs from the default in the attention calls only")
end

-- ---- the io table: every tensor the runtime writes or reads, by name, role, type and shape ------
do
  local bad, n = nil, 0
  for _, model in ipairs({ "models/opensora-v1.2.lua", "models/latte.lua", "models/opensora-plan-v1.1.lua" }) do
    local fam = describe.load_family(model)
    local b = bakery.variant(fam, describe.named(fam, "fixture"), fam.path)
    local want = { ["in.x"] = "input", ["in.t"] = "input", ["sampler.z"] = "state", out = "output" }
    local ios = 0
    for _, buf in ipairs(b.program.buffer_list) do
      if buf.kind == "io" then
        ios = ios + 1
        local role = want[buf.name] or (buf.name:match("^in%.") and "input") or (buf.name:match("^sampler%.") and "state")
        if buf.role ~= role then bad = bad or (fam.family .. ": " .. buf.name .. " has role " .. tostring(buf.role)) end
        want[buf.name] = nil
      elseif buf.role then bad = bad or (fam.family .. ": " .. buf.name .. " is not io but has a role") end
    end
    if next(want) then bad = bad or (fam.family .. ": no io buffer " .. next(want)) end
    local tab = read("out/" .. fam.family .. "/fixture/tables.c") or ""
    local listed = select(2, tab:gsub('\n  { "[%w._]+", DITC_IO_', ""))
    if not tab:find("static const ditc_io io%[" .. ios .. "%]") or listed ~= ios then
      bad = bad or string.format("%s: tables.c lists %d of %d io buffers", fam.family, listed, ios)
    end
    n = n + ios
  end
  check(bad == nil, string.format("the io table of every family's fixture lists its %d io buffers with their roles (inputs "
    .. "in.*, the sampler's state, the output)", n), bad)
end

os.execute("rm -rf " .. tmp)
tap.finish("gen_test")
