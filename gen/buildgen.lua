-- buildgen.lua: writes out/variants.ninja, the per-variant build statements that build.ninja
-- includes, from the model files' variant lists and the test variants of tests/variants.lua:
-- for every named variant, the generator run into out/<family>/<variant>/ and its CPU binary;
-- for `fixture`, the debug binary (intermediate dumps); for a parallel variant, its NCCL binary;
-- the CUDA builds (the family's storage for the fixtures and the released sizes the GPU bench
-- runs, fp32 storage for the fixtures, and CUDA_ALSO's other storage of a fixture); and every
-- test variant's generator run and binary in build/tests/. Phony targets group them for
-- build.ninja's verbs. Written only when its content changed; `--check` instead fails when the
-- committed file is stale (the tests run it).
-- Usage: lua5.4 gen/buildgen.lua [--check]. Not here: rules and flags (build.ninja).
local root = (arg[0]:match("^(.*)gen/buildgen%.lua$") or "./")
dofile(root .. "gen/paths.lua")(root)
require("strict")
local describe = require("describe")

local OUT = "out/variants.ninja"
local MODELS = { "models/opensora-v1.2.lua", "models/latte.lua", "models/opensora-plan-v1.1.lua", "models/t5-v1.1.lua",
  "models/vae-opensora-v1.2.lua", "models/vae-latte.lua", "models/vae-opensora-plan-v1.1.lua" }
-- Models whose shipped variants are their fixtures only: the VAEs' released variants are hundreds of
-- kB of generated code each that nothing here runs; their sizes come from the generator in
-- tests/vae_gen_test.lua and `ninja bench`, and `./ditc.sh variant --model M --variant V` builds one.
local FIXTURES_ONLY = { ["models/vae-opensora-v1.2.lua"] = true, ["models/vae-latte.lua"] = true,
  ["models/vae-opensora-plan-v1.1.lua"] = true }
-- The released sizes the GPU bench (tools/bench_gpu.sh) and the device check run.
local CUDA_RELEASED = { ["opensora-v1.2"] = "480p-9x16-51f", latte = "16x512x512" }
-- Fixtures built in another 16-bit storage besides the family's (bin/cuda-<storage>/): the T5
-- runs in bf16 for Open-Sora (bin/cuda/) and in fp16, with its fp32 `wo` and residual stream, for
-- Latte and Open-Sora-Plan (gen/families/t5.lua).
local CUDA_ALSO = { ["t5-v1.1"] = { "fp16" } }
local GEN_FILES = { "forward.c", "offsets.h", "tables.c", "entry.c", "schedule.txt", "plan.txt", "manifest.txt" }
local NETWORK_FILES = { "forward.c", "offsets.h", "tables.c", "entry.c", "plan.txt", "manifest.txt" } -- no schedule
local CUDA_FILES = { "forward.cu", "offsets.h", "tables.c", "entry.c" }

local lines = {}
local function put(fmt, ...) lines[#lines + 1] = string.format(fmt, ...) end

local function files(dir, list)
  local out = {}
  for i, f in ipairs(list) do out[i] = dir .. "/" .. f end
  return table.concat(out, " ")
end

-- One generator run (rule gen: `$lua gen/main.lua $args --out $dir`) of `model`.
local function gen(dir, model, args, list, extra_inputs)
  put("build %s: gen %s%s", files(dir, list), model, extra_inputs and (" " .. extra_inputs) or "")
  put("  args = %s", args)
  put("  dir = %s", dir)
end

-- One CPU binary (rule variant) from a generated dir; extra: the compile flags, hooks: the test
-- hooks object, comm: the NCCL object and libraries. (A network's binary runs its own command
-- line from the same library: runtime/core/main.c picks it.)
local function cpu_bin(bin, dir, opt)
  opt = opt or {}
  put("build %s: variant %s | %s/offsets.h rt_deps%s%s", bin, files(dir, { "forward.c", "tables.c", "entry.c" }), dir,
    opt.comm and " build/rt/comm_nccl.o" or "", opt.noffmpeg and " build/rt/video/libditc_video_none.a" or "")
  put("  dir = %s", dir)
  if opt.extra then put("  extra = %s", opt.extra) end
  if opt.hooks then put("  hooks_obj = build/rt/test_hooks.o") end
  if opt.noffmpeg then put("  video_libs = build/rt/video/libditc_video_none.a build/rt/libditc.a") end
  if opt.comm then
    put("  comm_obj = build/rt/comm_nccl.o")
    put("  comm_libs = -L$cuda/lib64 -lnccl -lcudart")
  end
end

-- One CUDA build of a named variant in `storage` (rule variant_cuda).
local function cuda_bin(bin, dir, model, variant, storage)
  gen(dir, model, string.format("--model %s --variant %s --backend cuda --storage %s --name %s", model, variant,
    storage, variant), CUDA_FILES)
  put("build %s: variant_cuda %s | %s/offsets.h rt_deps build/rt/cuda_%s/libditc_cuda.a build/rt/cuda_%s/backend.o "
    .. "runtime/cuda/ops.h", bin, files(dir, { "forward.cu", "tables.c", "entry.c" }), dir, storage, storage)
  put("  dir = %s", dir)
  put("  storage = %s", storage)
end

-- The files a pipeline run of the generator writes into dir: each part's, plan.txt and pipeline.c.
local function pipeline_files(dir)
  local out = {}
  for _, part in ipairs({ "denoise", "text", "decode" }) do -- denoise/forward.c first: gen.d names it
    for _, f in ipairs(part == "denoise" and GEN_FILES or NETWORK_FILES) do out[#out + 1] = part .. "/" .. f end
  end
  out[#out + 1] = "plan.txt"
  out[#out + 1] = "pipeline.c"
  return out
end

-- One pipeline binary from a generated pipeline dir: each part's forward.c and tables.c compiled
-- with its own -I (rule pipeline_cc), pipeline.c, linked with runtime/pipeline/ (rule pipeline_link).
local function pipeline_bin(bin, dir, obj, nccl)
  local objs = { obj .. "/pipeline.o" }
  put("build %s/pipeline.o: pipeline_cc %s/pipeline.c | rt_deps", obj, dir)
  put("  dir = %s", dir)
  for _, part in ipairs({ "text", "denoise", "decode" }) do
    for _, f in ipairs({ "forward", "tables" }) do
      local o = string.format("%s/%s.%s.o", obj, part, f)
      put("build %s: pipeline_cc %s/%s/%s.c | %s/%s/offsets.h rt_deps", o, dir, part, f, dir, part)
      put("  dir = %s/%s", dir, part)
      objs[#objs + 1] = o
    end
  end
  put("build %s: pipeline_link %s | pipeline_deps", bin, table.concat(objs, " "))
  if nccl then -- the same objects linked with the NCCL communicator (one process a rank)
    put("build %s-nccl: pipeline_link %s | pipeline_deps build/rt/comm_nccl.o", bin, table.concat(objs, " "))
    put("  pipe_comm = build/rt/comm_nccl.o")
    put("  comm_libs = -L$cuda/lib64 -lnccl -lcudart")
  end
end

local groups = { cpu = {}, nccl = {}, cuda = {}, tests = {} }
local function add(group, target) local g = groups[group]; g[#g + 1] = target end

put("# out/variants.ninja: the per-variant build statements, generated by gen/buildgen.lua from the")
put("# variant lists of %s", table.concat(MODELS, ", "))
put("# and from tests/variants.lua. DO NOT EDIT: change those, then run `lua5.4 gen/buildgen.lua` (the")
put("# tests fail while this file is stale). Included by build.ninja.")

for _, model in ipairs(MODELS) do
  local fam = describe.load_family(model)
  local network = fam.cls.kind == "network"
  local names = {}
  for n in pairs(fam.variants) do
    if not FIXTURES_ONLY[model] or n:match("^fixture") then names[#names + 1] = n end
  end
  table.sort(names)
  put("")
  put("# ---- %s (%s) ----", fam.family, model)
  for _, name in ipairs(names) do
    local v = describe.named(fam, name)
    local id, dir = fam.family .. "-" .. name, "out/" .. fam.family .. "/" .. name
    gen(dir, model, string.format("--model %s --variant %s", model, name), network and NETWORK_FILES or GEN_FILES)
    cpu_bin("bin/" .. id, dir)
    add("cpu", "bin/" .. id)
    if name == "fixture" or network and name:match("^fixture") then -- the fixtures' --dump builds
      cpu_bin("bin/debug/" .. id, dir, { extra = "-DDITC_DUMP_ENABLED" })
      add("cpu", "bin/debug/" .. id)
    end
    if not network and (v.sp > 1 or v.cfg_parallel) then
      cpu_bin("bin/nccl/" .. id, dir, { comm = true })
      add("nccl", "bin/nccl/" .. id)
    elseif name:match("^fixture") or CUDA_RELEASED[fam.family] == name then
      cuda_bin("bin/cuda/" .. id, "build/gen/cuda-" .. id, model, name, fam.dtype or "bf16")
      add("cuda", "bin/cuda/" .. id)
      if name == "fixture" then
        for _, st in ipairs({ "fp32", table.unpack(CUDA_ALSO[fam.family] or {}) }) do
          cuda_bin("bin/cuda-" .. st .. "/" .. id, "build/gen/cuda-" .. st .. "-" .. id, model, name, st)
          add("cuda", "bin/cuda-" .. st .. "/" .. id)
        end
      end
    end
  end
end

-- The demo's pipeline (tools/demo.sh): the Open-Sora end-to-end fixture's tiny parts from their
-- folders, in fp32 as upstream ran them; generated into build/gen/ (not committed), part of `all`.
put("")
put("# ---- the demo's pipeline (tools/demo.sh) ----")
local E2E = "tests/golden/e2e-opensora-v1.2"
gen("build/gen/demo-opensora-v1.2-e2e", "models/opensora-v1.2.lua", "--model models/opensora-v1.2.lua --model-dir " .. E2E
  .. " --text-encoder " .. E2E .. "/DeepFloyd/t5-v1_1-xxl-sharded --name e2e --height 144 --width 256 --frames 17 "
  .. "--pipeline-dtype fp32", pipeline_files("build/gen/demo-opensora-v1.2-e2e"))
pipeline_bin("bin/pipeline/opensora-v1.2-e2e", "build/gen/demo-opensora-v1.2-e2e", "build/obj/demo-opensora-v1.2-e2e")
add("cpu", "bin/pipeline/opensora-v1.2-e2e")

put("")
put("# ---- test variants (tests/variants.lua; generated into build/gen/, not committed) ----")
local tests = dofile(root .. "tests/variants.lua")
local kinds = {} -- model file -> its class's kind
for _, t in ipairs(tests) do
  kinds[t.model] = kinds[t.model] or describe.load_family(t.model).cls.kind
  local network = kinds[t.model] == "network"
  local dir, bin = "build/gen/" .. t.name, "build/tests/" .. t.name
  if t.pipeline then
    gen(dir, t.model, t.args, pipeline_files(dir))
    pipeline_bin(bin, dir, "build/obj/" .. t.name, t.nccl)
    if t.nccl then add("nccl", bin .. "-nccl") end
  else
    gen(dir, t.model, t.args, network and NETWORK_FILES or GEN_FILES, t.args:match("%-%-config (%S+)"))
    cpu_bin(bin, dir, { hooks = t.hooks, noffmpeg = t.noffmpeg })
  end
  add("tests", bin)
  if t.debug then
    cpu_bin(bin .. "-debug", dir, { extra = "-DDITC_DUMP_ENABLED" })
    add("tests", bin .. "-debug")
  end
end

put("")
put("# ---- groups for build.ninja's verbs ----")
for _, g in ipairs({ "cpu", "nccl", "cuda", "tests" }) do
  put("build variants-%s: phony %s", g, table.concat(groups[g], " $\n    "))
end
local text = table.concat(lines, "\n") .. "\n"

local f = io.open(root .. OUT, "r")
local old = f and f:read("a")
if f then f:close() end
if arg[1] == "--check" then
  if old == text then os.exit(0) end
  io.stderr:write(string.format("buildgen: %s is stale: run lua5.4 gen/buildgen.lua\n", OUT))
  os.exit(1)
end
if old ~= text then
  f = assert(io.open(root .. OUT .. ".tmp", "w"))
  f:write(text)
  f:close()
  assert(os.rename(root .. OUT .. ".tmp", root .. OUT))
end
