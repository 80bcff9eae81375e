-- tests/pipeline_gen_test.lua: a denoiser variant generated as a whole pipeline (gen/pipeline/,
-- gen/main.lua --pipeline and --model-dir): its three parts (the T5 at the DiT's text length, the
-- VAE at its latent and frames) each generated like a variant of its own, and the pipeline's
-- plan.txt over the phases text -> denoise -> decode: the arena is the largest phase plus what
-- crosses phases, the weights each phase's (resident) or the largest (reload), for the released
-- pipelines in their GPU storage and from the end-to-end fixtures' model folders; and the
-- refusals. Prints ok / not ok lines. Run from the repository root: lua5.4 tests/pipeline_gen_test.lua.
-- Not here: running a pipeline.
dofile("gen/paths.lua")("")
require("strict")
local tap = dofile("tests/tap.lua")
local check, sh, read = tap.check, tap.sh, tap.read

local tmp = tap.tmpdir()
local GEN = "lua5.4 gen/main.lua --quiet "
local MIB = 1048576

-- A part's plan.txt: arena bytes and weight bytes (elements x the storage element).
local function part_plan(dir)
  local p = read(dir .. "/plan.txt") or ""
  local arena = tonumber(p:match("arena (%d+) bytes"))
  local elems, storage = p:match("weights (%d+) (%w+) elements")
  local each = ({ fp32 = 4, bf16 = 2, fp16 = 2 })[storage]
  return arena, elems and tonumber(elems) * each, p
end
-- The pipeline plan.txt's figures, from its bytes section (the MiB lines print the same rounded).
local function pipe_plan(dir)
  local p = read(dir .. "/plan.txt") or ""
  local t = { raw = p }
  for ph in ("text denoise decode"):gmatch("%a+") do
    local a, w, k = p:match("\n  " .. ph .. " +arena (%d+) weights (%d+) peak (%d+)")
    t[ph] = { arena = tonumber(a), weights = tonumber(w), peak = tonumber(k) }
  end
  t.cond, t.latent = p:match("\n  carried +cond (%d+) latent (%d+)")
  t.arena, t.weights, t.total, t.mode = p:match("\n  total +arena (%d+) weights (%d+) total (%d+) %(weights (%a+)%)")
  t.resident = p:match("total with weights resident: +([%d.]+) MiB")
  t.reload = p:match("total with weights reload: +([%d.]+) MiB")
  for _, k in ipairs({ "cond", "latent", "arena", "weights", "total", "resident", "reload" }) do t[k] = tonumber(t[k]) end
  return t
end
local function near(a, b) return a and b and math.abs(a - b) <= 0.011 end -- MiB printed with 2 decimals

-- the released pipelines in their GPU storage (bf16 Open-Sora, fp16 Latte and Open-Sora-Plan)
for _, c in ipairs({ { "opensora-v1.2", "480p-9x16-51f", 300 }, { "latte", "16x512x512", 120 },
  { "opensora-plan-v1.1", "65x512x512", 300 } }) do
  local fam, v, L = c[1], c[2], c[3]
  local dir = tmp .. "/" .. fam
  local rc, out = sh(GEN .. "--model models/" .. fam .. ".lua --variant " .. v .. " --pipeline --backend cuda --out " .. dir)
  local t = pipe_plan(dir)
  local ok, why = rc == 0, out
  local maxa, sumw, maxw = 0, 0, 0
  for ph in ("text denoise decode"):gmatch("%a+") do
    local a, w = part_plan(dir .. "/" .. ph)
    ok = ok and a and t[ph].arena == a and t[ph].weights == w and t[ph].peak == a + t.cond + t.latent + w
    maxa, sumw, maxw = math.max(maxa, a or 0), sumw + (w or 0), math.max(maxw, w or 0)
  end
  if ok then why = t.raw end
  ok = ok and t.arena == (maxa + 255) // 256 * 256 + t.cond + t.latent and t.mode == "reload" and t.weights == maxw
    and t.total == t.arena + maxw and near(t.resident, (t.arena + sumw) / MIB) and near(t.reload, (t.arena + maxw) / MIB)
  check(ok, string.format("%s/%s pipeline: each phase's arena and weights are its part's plan, its peak the arena + carried + "
    .. "its weights; the arena is the largest phase + the carried conditioning and latent; weights resident = their sum, "
    .. "reload = the largest", fam, v), why)
  local t5 = read(dir .. "/text/plan.txt") or ""
  check(t5:find("%[1, " .. L .. ", 4096%] f32 last_hidden_state") and (read(dir .. "/decode/plan.txt") or ""):find("frames_u8"),
    string.format("%s/%s pipeline: the text part encodes %d tokens, the decode part makes frames", fam, v, L), t5:sub(1, 400))
  if fam == "opensora-v1.2" then
    check(t.reload * MIB < 24 * 1024 * MIB and t.resident > t.reload and t.raw:find("reload: .*<%- this variant"),
      string.format("the released 480p Open-Sora pipeline fits a 24 GiB GPU with its default (weights reloaded per phase): "
        .. "%.0f MiB, resident %.0f MiB", t.reload or -1, t.resident or -1), t.raw)
  end
  rc = sh(GEN .. "--model models/" .. fam .. ".lua --variant " .. v .. " --pipeline --backend cuda --out " .. dir .. " && "
    .. "lua5.4 gen/main.lua --model models/" .. fam .. ".lua --variant " .. v .. " --pipeline --backend cuda --out " .. dir
    .. " | grep -q ' 0 of 21 files changed'")
  check(rc == 0, fam .. "/" .. v .. " pipeline: generating again changes no file")
end

-- from a model folder as users download it: the end-to-end fixtures' (their parts' config.json)
do
  local E = "tests/golden/e2e-opensora-v1.2"
  local dir = tmp .. "/e2e-os12"
  local rc, out = sh(GEN .. "--model models/opensora-v1.2.lua --model-dir " .. E .. " --text-encoder " .. E
    .. "/DeepFloyd/t5-v1_1-xxl-sharded --name e2e --height 144 --width 256 --frames 17 --out " .. dir)
  local manifest = read(dir .. "/text/manifest.txt") or ""
  local index = read(E .. "/DeepFloyd/t5-v1_1-xxl-sharded/model.safetensors.index.json") or ""
  local same = rc == 0 and manifest ~= ""
  for name in index:gmatch('"([%w_.]+%.weight)"%s*:') do
    if name ~= "encoder.embed_tokens.weight" then same = same and manifest:find("\n" .. name:gsub("%.", "%%.") .. " ") ~= nil end
  end
  check(same, "--model-dir (Open-Sora e2e folders, the T5 elsewhere): the text part reads every tensor of the folder's "
    .. "sharded T5", out)
  local dec = read(dir .. "/decode/manifest.txt") or ""
  check(dec:find("spatial_vae.module.decoder.conv_in.weight +%[16, 4, 3, 3%]")
    and dec:find("temporal_vae.decoder.conv1.conv.weight +%[16, 4, 3, 3, 3%]")
    and (read(dir .. "/decode/plan.txt") or ""):find("%[1, 3, 17, 144, 256%] f32 sample"),
    "--model-dir: the VAE part's sizes come from the folder's released-format config.json (latent 5x18x32 -> 17x144x256)",
    dec:sub(1, 300))
  local L = "tests/golden/e2e-latte/maxin-cn/Latte-1"
  rc, out = sh(GEN .. "--model models/latte.lua --model-dir " .. L .. " --name e2e --height 64 --width 64 --frames 16 "
    .. "--text-len 120 --out " .. tmp .. "/e2e-latte")
  check(rc == 0 and (read(tmp .. "/e2e-latte/decode/manifest.txt") or ""):find("decoder.mid_block.resnets.0")
    and not (read(tmp .. "/e2e-latte/decode/manifest.txt") or ""):find("attentions"),
    "--model-dir (Latte-1's one repository): the VAE of layers_per_block 1 runs no mid-block attention, as upstream", out)
end

-- refusals: one line naming the file or flag
local function refuses(what, cmd, pattern)
  local rc, out = sh(cmd)
  local lines = select(2, out:gsub("\n", "\n"))
  check(rc == 1 and lines == 1 and out:find(pattern), what, "exit " .. tostring(rc) .. ": " .. out)
end
local E = "tests/golden/e2e-opensora-v1.2"
local base = GEN .. "--model models/opensora-v1.2.lua --name e2e --height 144 --width 256 --frames 17 --out " .. tmp .. "/x "
refuses("--model-dir missing a part's folder names the path", base .. "--model-dir " .. E,
  "DeepFloyd/t5%-v1_1%-xxl/config%.json: no config%.json")
refuses("--model-dir with a VAE of another family names the file and field", base .. "--model-dir " .. E
  .. " --text-encoder " .. E .. "/DeepFloyd/t5-v1_1-xxl-sharded --vae tests/golden/e2e-latte/maxin-cn/Latte-1/vae_temporal_decoder",
  "vae_temporal_decoder/config%.json:%d+: _class_name")
refuses("--text-encoder without --model-dir", base .. "--config " .. E .. "/hpcai-tech/OpenSora-STDiT-v3/config.json "
  .. "--text-encoder " .. E, "%-%-text%-encoder applies to %-%-model%-dir")
refuses("--model-dir for a family without a pipeline (T5)", GEN .. "--model models/t5-v1.1.lua --model-dir " .. E
  .. " --name x --out " .. tmp .. "/x", "has none")
refuses("--pipeline for a network", GEN .. "--model models/t5-v1.1.lua --variant fixture --pipeline --out " .. tmp .. "/x",
  "%-%-pipeline needs a denoiser family")
refuses("--weights without a pipeline", GEN .. "--model models/opensora-v1.2.lua --variant fixture --weights resident --out "
  .. tmp .. "/x", "%-%-weights applies to %-%-pipeline")
refuses("--weights neither reload nor resident", GEN .. "--model models/opensora-v1.2.lua --variant 480p-9x16-51f --pipeline "
  .. "--weights lazy --out " .. tmp .. "/x", "%-%-weights must be reload or resident")

-- --weights resident: the released 480p Open-Sora pipeline marked resident, its total every part's weights
do
  local dir = tmp .. "/resident"
  local rc, out = sh(GEN .. "--model models/opensora-v1.2.lua --variant 480p-9x16-51f --pipeline --backend cuda "
    .. "--weights resident --out " .. dir)
  local t = pipe_plan(dir)
  check(rc == 0 and t.mode == "resident" and t.raw:find("resident: .*<%- this variant") and t.weights
    and near(t.resident, (t.arena + t.weights) / MIB), "--weights resident: plan.txt marks the resident total, its "
    .. "weights every part's", out .. (t.raw or ""))
end

os.execute("rm -rf " .. tmp)
tap.finish("pipeline_gen_test")
