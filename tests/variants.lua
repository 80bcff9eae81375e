-- tests/variants.lua: the variants the tests build besides the shipped ones, as data for
-- gen/buildgen.lua: each is generated into build/gen/<name>/ and linked as build/tests/<name>.
-- args: gen/main.lua's arguments (without --out); hooks: link the fault-injection hooks of the
-- rank tests (runtime/denoiser/test_hooks.c); debug: also build <name>-debug with intermediate dumps;
-- noffmpeg: link the video writers built without FFmpeg (runtime/video/: .mp4 refused);
-- pipeline: a whole pipeline (--model-dir: text, denoise and decode parts and pipeline.c), linked
-- with runtime/pipeline/ as build/tests/<name> (nccl: also build/tests/<name>-nccl, one NCCL rank a
-- process). A
-- network's variants (a family of kind "network") link runtime/network/main.c. Not code: no
-- logic here.
local os12, latte, osp = "models/opensora-v1.2.lua", "models/latte.lua", "models/opensora-plan-v1.1.lua"
local toy = "tests/models/toy-mlp.lua"
local t5 = "models/t5-v1.1.lua"
local odd = "--config tests/data/stdit3-odd.json --height 48 --width 56 --frames 17 --latent 3,6,7 --steps 12 "
  .. "--pipeline-dtype fp32"
local function m(model) return "--model " .. model .. " " end
return {
  -- defined by an upstream-format config.json
  { name = "os12-odd", model = os12, args = m(os12) .. odd .. " --name odd" },
  { name = "os12-odd2", model = os12, args = m(os12) .. "--config tests/data/stdit3-odd2.json --name odd2 --height 40 "
    .. "--width 72 --frames 34 --latent 3,5,9 --steps 8 --cfg 4.5 --pipeline-dtype fp32" },
  { name = "latte-cfg", model = latte, args = m(latte) .. "--config tests/data/latte-config.json --name cfg --height 48 "
    .. "--width 80 --frames 3 --text-len 6 --steps 10 --pipeline-dtype fp32" },
  { name = "osp-cfg", model = osp, args = m(osp) .. "--config tests/data/osp-config.json --name cfg --height 64 "
    .. "--width 48 --frames 13 --text-len 7 --steps 12 --pipeline-dtype fp32" },
  -- the end-to-end fixtures as whole pipelines from their model folders (tests/pipeline_test.sh), in fp32
  -- as upstream ran them
  { name = "pipeline-os12-e2e", model = os12, pipeline = true, args = m(os12) .. "--model-dir "
    .. "tests/golden/e2e-opensora-v1.2 --text-encoder tests/golden/e2e-opensora-v1.2/DeepFloyd/t5-v1_1-xxl-sharded "
    .. "--name e2e --height 144 --width 256 --frames 17 --pipeline-dtype fp32" },
  { name = "pipeline-latte-e2e", model = latte, pipeline = true, args = m(latte) .. "--model-dir "
    .. "tests/golden/e2e-latte/maxin-cn/Latte-1 --name e2e --height 64 --width 64 --frames 16 --text-len 120 "
    .. "--steps 10 --pipeline-dtype fp32" },
  -- the same on several ranks: 2 sequence-parallel thread ranks, and the CFG halves on 2 (nccl: also
  -- linked as one NCCL rank a process, build/tests/NAME-nccl, for `ninja nccl`)
  { name = "pipeline-os12-e2e-sp2", model = os12, pipeline = true, nccl = true, args = m(os12) .. "--model-dir "
    .. "tests/golden/e2e-opensora-v1.2 --text-encoder tests/golden/e2e-opensora-v1.2/DeepFloyd/t5-v1_1-xxl-sharded "
    .. "--name e2e-sp2 --height 144 --width 256 --frames 17 --pipeline-dtype fp32 --sp 2" },
  { name = "pipeline-latte-e2e-cfgp", model = latte, pipeline = true, args = m(latte) .. "--model-dir "
    .. "tests/golden/e2e-latte/maxin-cn/Latte-1 --name e2e-cfgp --height 64 --width 64 --frames 16 --text-len 120 "
    .. "--steps 10 --pipeline-dtype fp32 --cfg-parallel" },
  -- Latte's with every part's weights resident (--weights resident; the family's default reloads them)
  { name = "pipeline-latte-e2e-resident", model = latte, pipeline = true, args = m(latte) .. "--model-dir "
    .. "tests/golden/e2e-latte/maxin-cn/Latte-1 --name e2e-resident --height 64 --width 64 --frames 16 --text-len 120 "
    .. "--steps 10 --pipeline-dtype fp32 --weights resident" },
  -- their VAEs alone, for the chained-binaries comparison of tests/pipeline_test.sh
  { name = "vae-os12-e2e", model = "models/vae-opensora-v1.2.lua", args = "--model models/vae-opensora-v1.2.lua "
    .. "--config tests/golden/e2e-opensora-v1.2/hpcai-tech/OpenSora-VAE-v1.2/config.json --name e2e --latent 4,5,18,32 "
    .. "--frames 17" },
  { name = "vae-latte-e2e", model = "models/vae-latte.lua", args = "--model models/vae-latte.lua "
    .. "--config tests/golden/e2e-latte/maxin-cn/Latte-1/vae_temporal_decoder/config.json --name e2e --latent 4,16,8,8" },
  -- the end-to-end fixtures' transformers at their sizes (tests/cond_test.sh: the first model call and
  -- the sampling run from ditc-cond's conditioning)
  { name = "os12-e2e", model = os12, args = m(os12) .. "--config tests/golden/e2e-opensora-v1.2/hpcai-tech/"
    .. "OpenSora-STDiT-v3/config.json --name e2e --height 144 --width 256 --frames 17 --pipeline-dtype fp32" },
  { name = "latte-e2e", model = latte, args = m(latte) .. "--config tests/golden/e2e-latte/maxin-cn/Latte-1/"
    .. "transformer/config.json --name e2e --height 64 --width 64 --frames 16 --text-len 120 --steps 10 "
    .. "--pipeline-dtype fp32" },
  -- sequence parallelism on thread ranks
  { name = "os12-fixture-sp2", model = os12, args = m(os12) .. "--variant fixture --sp 2 --name fixture-sp2" },
  { name = "os12-fixture-sp3", model = os12, args = m(os12) .. "--variant fixture --sp 3 --name fixture-sp3" },
  { name = "os12-fixture-sp4", model = os12, args = m(os12) .. "--variant fixture --sp 4 --name fixture-sp4", hooks = true },
  { name = "os12-fixture-sp8", model = os12, args = m(os12) .. "--variant fixture --sp 8 --name fixture-sp8" },
  { name = "os12-aggressive-sp3", model = os12, args = m(os12) .. "--variant fixture-aggressive --sp 3 --name aggressive-sp3" },
  { name = "os12-aggressive-sp8", model = os12, args = m(os12) .. "--variant fixture-aggressive --sp 8 --name aggressive-sp8" },
  { name = "os12-odd-sp3", model = os12, args = m(os12) .. odd .. " --sp 3 --name odd-sp3" },
  { name = "os12-odd-sp8", model = os12, args = m(os12) .. odd .. " --sp 8 --name odd-sp8" },
  { name = "latte-fixture-sp3", model = latte, args = m(latte) .. "--variant fixture --sp 3 --name fixture-sp3" },
  { name = "latte-fixture-aggressive-sp8", model = latte, args = m(latte) .. "--variant fixture-aggressive --sp 8 "
    .. "--name fixture-aggressive-sp8" },
  { name = "osp11-fixture-sp2", model = osp, args = m(osp) .. "--variant fixture --sp 2 --name fixture-sp2" },
  { name = "osp11-fixture-aggressive-sp8", model = osp, args = m(osp) .. "--variant fixture-aggressive --sp 8 "
    .. "--name fixture-aggressive-sp8" },
  -- CFG parallelism (2 x sp ranks)
  { name = "os12-fixture-cfgp-sp1", model = os12, args = m(os12) .. "--variant fixture --sp 1 --cfg-parallel "
    .. "--name fixture-cfgp-sp1", hooks = true },
  { name = "os12-fixture-cfgp-sp2", model = os12, args = m(os12) .. "--variant fixture --sp 2 --cfg-parallel "
    .. "--name fixture-cfgp-sp2", hooks = true },
  { name = "os12-fixture-aggressive-cfgp-sp3", model = os12, args = m(os12) .. "--variant fixture-aggressive --sp 3 "
    .. "--cfg-parallel --name fixture-aggressive-cfgp-sp3" },
  { name = "latte-fixture-cfgp-sp2", model = latte, args = m(latte) .. "--variant fixture --sp 2 --cfg-parallel "
    .. "--name fixture-cfgp-sp2" },
  { name = "osp11-fixture-cfgp-sp1", model = osp, args = m(osp) .. "--variant fixture --sp 1 --cfg-parallel "
    .. "--name fixture-cfgp-sp1" },
  -- a network that is not a denoiser (tests/network_test.sh)
  { name = "toy-mlp-fixture", model = toy, args = m(toy) .. "--variant fixture", debug = true },
  { name = "toy-mlp-wide", model = toy, args = m(toy) .. "--variant wide" },
  -- state that persists across calls (a chunk phase, as a VAE decoder's)
  { name = "toy-scan", model = "tests/models/toy-scan.lua", args = "--model tests/models/toy-scan.lua --variant fixture" },
  -- a T5 encoder from an upstream-format config.json (3 heads of 20 != d_model 48, 16 buckets up to
  -- distance 20): 2 rows a call, so a file of 5 rows runs 3 calls (tests/t5_test.sh)
  { name = "t5-odd", model = t5, args = m(t5) .. "--config tests/data/t5-odd.json --name odd --seq-len 37 --batch 2" },
  -- the end-to-end fixtures' T5 encoders at their pipelines' lengths (tests/cond_test.sh)
  { name = "t5-e2e-os12", model = t5, args = m(t5) .. "--config tests/golden/e2e-opensora-v1.2/DeepFloyd/"
    .. "t5-v1_1-xxl-sharded/config.json --name e2e-os12 --seq-len 300" },
  { name = "t5-e2e-latte", model = t5, args = m(t5) .. "--config tests/golden/e2e-latte/maxin-cn/Latte-1/"
    .. "text_encoder/config.json --name e2e-latte --seq-len 120" },
  -- a second VAE config per family from its config.json (tests/data/vae/README.md), against the
  -- numpy reference (tests/vae_test.sh), with their --dump builds
  { name = "vae-os12-alt", model = "models/vae-opensora-v1.2.lua", args = "--model models/vae-opensora-v1.2.lua --config "
    .. "tests/data/vae/opensora-v1.2-alt/config.json --name alt --latent 4,12,7,9 --frames 22", debug = true },
  { name = "vae-latte-alt", model = "models/vae-latte.lua", args = "--model models/vae-latte.lua --config "
    .. "tests/data/vae/latte-alt/config.json --name alt --latent 4,17,5,7", debug = true },
  { name = "vae-osp-alt", model = "models/vae-opensora-plan-v1.1.lua", args = "--model models/vae-opensora-plan-v1.1.lua "
    .. "--config tests/data/vae/opensora-plan-v1.1-alt/config.json --name alt --latent 4,6,5,7 --tiling 16,4,7,4,0.25",
    debug = true },
  -- the Open-Sora fixture VAE linked without FFmpeg: its --video refuses .mp4 (tests/vae_test.sh)
  { name = "vae-os12-noffmpeg", model = "models/vae-opensora-v1.2.lua", args = "--model models/vae-opensora-v1.2.lua "
    .. "--variant fixture", noffmpeg = true },
  { name = "vae-osp-alt-untiled", model = "models/vae-opensora-plan-v1.1.lua", args = "--model "
    .. "models/vae-opensora-plan-v1.1.lua --config tests/data/vae/opensora-plan-v1.1-alt/config.json --name alt-untiled "
    .. "--latent 4,6,5,7 --tiling off", debug = true },
}
