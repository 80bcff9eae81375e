-- tests/vae_gen_test.lua: the generator's side of the VAE decoders (gen/families/vae_*.lua): a
-- fixture's config.json gives the same manifest as the named fixture variant; the static chunk
-- and tile schedules match upstream's rules (Open-Sora's micro chunks, Latte's 14-frame chunks,
-- Open-Sora-Plan's overlapping chunks and tiles, the released sizes of spec'd examples); the
-- released decoders' weights and FLOPs; and bad configs and flags are one-line errors naming the
-- file and field. Prints ok / not ok lines. Run from the repository root: lua5.4 tests/vae_gen_test.lua.
-- Not here: numerics (tests/vae_test.sh).
dofile("gen/paths.lua")("")
require("strict")
local tap = dofile("tests/tap.lua")
local check, sh, read = tap.check, tap.sh, tap.read

local tmp = tap.tmpdir()
local GEN = "lua5.4 gen/main.lua --quiet "

local function manifest(dir) return (read(dir .. "/manifest.txt") or ""):gsub("#[^\n]*\n", "") end
local function plan(dir) return read(dir .. "/plan.txt") or "" end

-- a fixture's config.json gives the named fixture variant's manifest
for _, c in ipairs({
  { "opensora-v1.2", "--latent 4,8,5,7 --frames 26" },
  { "latte", "--latent 4,16,6,5" },
  { "opensora-plan-v1.1", "--latent 4,4,5,6 --tiling 32,4,9,3,0.25" },
}) do
  local fam, args = c[1], c[2]
  local model = "models/vae-" .. fam .. ".lua"
  local a = sh(GEN .. "--model " .. model .. " --variant fixture --out " .. tmp .. "/" .. fam .. "-named")
  local b, out = sh(GEN .. "--model " .. model .. " --config tests/golden/vae-" .. fam .. "/config.json --name cfg "
    .. args .. " --out " .. tmp .. "/" .. fam .. "-cfg")
  check(a == 0 and b == 0 and manifest(tmp .. "/" .. fam .. "-named") == manifest(tmp .. "/" .. fam .. "-cfg")
    and manifest(tmp .. "/" .. fam .. "-cfg") ~= "", "vae-" .. fam .. ": the fixture's config.json gives the named "
    .. "fixture's manifest", out)
end

-- the schedules, as plan.txt prints them
do
  local p = plan(tmp .. "/opensora-v1.2-named")
  check(p:find("chunk 0: latent frames 0%-4 %-> 20 frames, the first 3 dropped %-> frames 0%-16")
    and p:find("chunk 1: latent frames 5%-7 %-> 12 frames, the first 3 dropped %-> frames 17%-25"),
    "vae-opensora-v1.2: 8 latent frames for 26 frames are chunks of 5 and 3 latent frames (17 + 9 frames)", p)
  p = plan(tmp .. "/latte-named")
  check(p:find("chunk 0: frames 0%-13") and p:find("chunk 1: frames 14%-15"), "vae-latte: 16 frames in chunks of 14 and 2", p)
  p = plan(tmp .. "/opensora-plan-v1.1-named")
  check(p:find("2 temporal chunks x 2 x 2 tiles = 8 decoder calls; blend 8 px, keep 24 px")
    and p:find("chunk 1: latent frames 2%-3 %(its first decoded frame dropped%) %-> frames 9%-12"),
    "vae-opensora-plan-v1.1: the fixture's tiles are upstream's (2 chunks [0,3) [2,4), rows 0-3 and 3-4)", p)
end

-- the released decoders: the chunking of upstream's documented examples, the parameter counts
-- and FLOPs of the upstream modules (decoder side)
for _, c in ipairs({
  { "opensora-v1.2", "480p-9x16-51f", 214757120, { "chunk 2: latent frames 10%-14 %-> 20 frames, the first 3 dropped %-> "
    .. "frames 34%-50", "13 calls" }, 2.46e14 },
  { "latte", "16x512x512", 63581312, { "chunk 1: frames 14%-15" }, 4.87e13 },
  { "opensora-plan-v1.1", "65x512x512", 149510784, { "3 temporal chunks x 2 x 2 tiles = 12 decoder calls; blend 128 px, "
    .. "keep 384 px", "chunk 2: latent frames 14%-16 %(its first decoded frame dropped%) %-> frames 57%-64",
    "tile rows %(latent%): 0%-63, 48%-63" }, 6.0e14 },
}) do
  local fam, v, weights, lines, flops = c[1], c[2], c[3], c[4], c[5]
  local dir = tmp .. "/" .. fam .. "-" .. v
  local rc, out = sh(GEN .. "--model models/vae-" .. fam .. ".lua --variant " .. v .. " --out " .. dir)
  local p = plan(dir)
  local ok = rc == 0 and p:find("weights " .. weights .. " fp32 elements", 1, true)
  for _, l in ipairs(lines) do ok = ok and p:find(l) end
  local f = tonumber(p:match("flops per call (%S+)"))
  check(ok and f and math.abs(f - flops) < 0.01 * flops, string.format("vae-%s/%s: %d weights, %.3g FLOPs, the schedule "
    .. "of upstream's example", fam, v, weights, flops), rc ~= 0 and out or p:sub(1, 600))
end

-- refusals: one line naming the file or flag and the field
local function refuses(what, cmd, pattern)
  local rc, out = sh(cmd)
  local lines = select(2, out:gsub("\n", "\n"))
  check(rc == 1 and lines == 1 and out:find(pattern), what, "exit " .. tostring(rc) .. ": " .. out)
end
local OS = "models/vae-opensora-v1.2.lua --config tests/golden/vae-opensora-v1.2/config.json --name x --out " .. tmp .. "/x "
refuses("vae-opensora-v1.2: --frames that the latent's chunks cannot decode to", GEN .. "--model " .. OS
  .. "--latent 4,8,5,7 --frames 40", "frames.*latent")
refuses("vae-opensora-v1.2: a latent with 3 channels", GEN .. "--model " .. OS .. "--latent 3,8,5,7 --frames 26",
  "temporal_embed_dim: is 4 %(the temporal VAE's embed_dim%), but the latent %(%-%-latent%) has 3 channels")
refuses("vae-opensora-v1.2: --frames is required", GEN .. "--model " .. OS .. "--latent 4,8,5,7", "%-%-frames is required")
refuses("vae-opensora-v1.2: --latent of 3 numbers", GEN .. "--model " .. OS .. "--latent 8,5,7 --frames 26",
  "%-%-latent takes 4 positive integers")
refuses("vae-latte: --tiling does not apply", GEN .. "--model models/vae-latte.lua --config tests/golden/vae-latte/config.json "
  .. "--name x --latent 4,16,6,5 --tiling off --out " .. tmp .. "/x", "%-%-tiling does not apply")
refuses("vae-opensora-plan-v1.1: --tiling of 4 numbers", GEN .. "--model models/vae-opensora-plan-v1.1.lua --config "
  .. "tests/golden/vae-opensora-plan-v1.1/config.json --name x --latent 4,4,5,6 --tiling 32,4,9,3 --out " .. tmp .. "/x",
  "%-%-tiling takes off or")
refuses("a named variant with --tiling", GEN .. "--model models/vae-opensora-plan-v1.1.lua --variant fixture --tiling off "
  .. "--out " .. tmp .. "/x", "%-%-tiling applies to %-%-config")

-- bad config.json files: the field and file named
local function config(name, text)
  local path = tmp .. "/" .. name
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end
local latte = read("tests/golden/vae-latte/config.json")
local p = config("latte-groups.json", (latte:gsub('"block_out_channels": %[%s*32,%s*64%s*%]', '"block_out_channels": [48, 64]')))
refuses("vae-latte: block_out_channels not a multiple of the decoder's 32 groups", GEN .. "--model models/vae-latte.lua --config "
  .. p .. " --name x --latent 4,16,6,5 --out " .. tmp .. "/x", "latte%-groups%.json.*block_out_channels.*48")
p = config("latte-class.json", (latte:gsub('"AutoencoderKLTemporalDecoder"', '"AutoencoderKL"')))
refuses("vae-latte: a config.json of another class", GEN .. "--model models/vae-latte.lua --config " .. p
  .. " --name x --latent 4,16,6,5 --out " .. tmp .. "/x", "latte%-class%.json:%d+: _class_name")
local os12 = read("tests/golden/vae-opensora-v1.2/config.json")
p = config("os-temporal.json", (os12:gsub('"type": "VAE_Temporal"', '"type": "VAE_Temporal_XL"')))
refuses("vae-opensora-v1.2: an unknown temporal VAE type", GEN .. "--model models/vae-opensora-v1.2.lua --config " .. p
  .. " --name x --latent 4,8,5,7 --frames 26 --out " .. tmp .. "/x", "os%-temporal%.json.*vae_temporal.*VAE_Temporal_XL")
p = config("os-scale.json", (os12:gsub('"scale": %[%s*3.85,', '"scale": [')))
refuses("vae-opensora-v1.2: 3 scales for 4 latent channels", GEN .. "--model models/vae-opensora-v1.2.lua --config " .. p
  .. " --name x --latent 4,8,5,7 --frames 26 --out " .. tmp .. "/x", "os%-scale%.json.*scale: has 3 entries")
local osp = read("tests/golden/vae-opensora-plan-v1.1/config.json")
p = config("osp-up.json", (osp:gsub('"decoder_temporal_upsample": %[', '"decoder_temporal_upsample": [ "",')))
refuses("vae-opensora-plan-v1.1: 5 temporal upsample entries for 4 levels", GEN .. "--model models/vae-opensora-plan-v1.1.lua "
  .. "--config " .. p .. " --name x --latent 4,4,5,6 --out " .. tmp .. "/x", "osp%-up%.json.*decoder_temporal_upsample")

os.execute("rm -rf " .. tmp)
tap.finish("vae_gen_test")
