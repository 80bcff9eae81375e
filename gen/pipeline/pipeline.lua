-- pipeline.lua: a denoiser variant as a whole text-to-video pipeline (the family's `pipeline`
-- record names its text encoder and VAE descriptions and upstream's settings): the three parts
-- resolved and baked for one variant (the T5 at the DiT's text length, the VAE at its latent and
-- frames), and one memory plan over the phases text -> denoise -> decode, where only the
-- conditioning and the latent cross phases: the arena is the largest phase plus what crosses, and
-- the weights are each phase's (resident) or the largest phase's (reloaded at each phase's start).
-- Not here: each part's own op program and plan (its family, bake.lua) or the runtime that
-- chains them.
local bake = require("bake")
local describe = require("describe")
local S = require("schema")
local util = require("util")

local M = {}

M.PHASES = { "text", "denoise", "decode" }
M.PHASE_DOC = {
  text = "tokenize the prompt, the text encoder", denoise = "the sampler's steps over the transformer",
  decode = "the VAE, then the video file",
}

-- The family description's `pipeline` record (describe_denoiser.lua checks it with this).
M.schema = S.record({
  text_encoder = S.record({
    model = S.str {}, folder = S.str {}, tokenizer = S.str { enum = { "fast", "slow" } },
    clean = S.str { enum = { "opensora-v1.2", "latte", "opensora-plan-v1.1" } }, dtype = S.DTYPE,
  }, { required = { "model", "folder", "tokenizer", "clean", "dtype" } }),
  vae = S.record({ model = S.str {}, folder = S.str {}, dtype = S.DTYPE }, { required = { "model", "folder", "dtype" } }),
  transformer = S.record({ folder = S.str {} }, { required = { "folder" } }),
  fps = S.int { min = 1, max = 1000 },
  weights = S.str { enum = { "resident", "reload" } },
}, { required = { "text_encoder", "vae", "transformer", "fps", "weights" } })

-- A part's variant for the denoiser variant v: the T5 at v's text length (one prompt a call), the
-- VAE at v's latent (the DiT's input channels) and frames, each with its description's config or
-- the config.json of configs[part] (a model folder's). backend/storage: the build's (the CUDA
-- storage of a part is its pipeline dtype).
local function parts(fam, v, configs)
  local p = fam.pipeline
  local d = v.dims
  local function part(name, rec, spec, pfam)
    local path = configs and configs[name]
    if path then spec.config = describe.import_config_json(pfam, path) end
    local where = path or fam.where({ "pipeline", name == "text" and "text_encoder" or "vae" })
    return describe.resolve_network(pfam, v.name .. "-" .. name, spec, function(q, msg)
      util.fail(where, "%s: %s (the %s of %s/%s)", #q > 0 and S.path_str(q) or "variant", msg,
        name == "text" and "text encoder" or "VAE", v.family, v.name)
    end, { model = rec.model, config = path })
  end
  local t5fam, vaefam = describe.load_family(p.text_encoder.model), describe.load_family(p.vae.model)
  local text = part("text", p.text_encoder, { seq_len = d.L, batch = 1 }, t5fam)
  local spec = { latent = { d.Cin, d.Tx, d.Hx, d.Wx } }
  if vaefam.cls.variant_fields.frames then spec.frames = v.num_frames end -- a VAE that needs the pixel frames
  local vae = part("decode", p.vae, spec, vaefam)
  return { text = { fam = t5fam, v = text, dtype = p.text_encoder.dtype }, decode = { fam = vaefam, v = vae, dtype = p.vae.dtype } }
end

-- Bakes the pipeline of denoiser variant v (already baked: `den`, bake.variant's result) for the
-- build's backend. Returns { parts = { text, denoise, decode } each { v, baked, arena, weights },
-- carried, arena, weights = { resident, reload }, mode }.
function M.bake(fam, v, den, configs)
  local ps = parts(fam, v, configs)
  local out = { parts = {}, mode = fam.pipeline.weights }
  for _, name in ipairs({ "text", "decode" }) do
    local part = ps[name]
    part.v.backend = v.backend
    part.v.storage = v.backend == "cuda" and part.dtype or "fp32"
    part.baked = bake.variant(part.fam, part.v)
  end
  ps.denoise = { fam = fam, v = v, baked = den }
  for _, name in ipairs(M.PHASES) do
    local part = ps[name]
    local P = part.baked.program
    part.arena = part.baked.plan.arena_bytes
    part.weights = P.weight_elems * P.st_bytes
    out.parts[name] = part
  end
  -- what crosses phases: the conditioning (the DiT's --cond inputs: text [Bp, L, Cc] and mask
  -- [Bp, L], fp32) and the latent [Bp, Cin, Tx, Hx, Wx] (fp32)
  local d = v.dims
  out.carried = { cond = d.Bp * d.L * d.Cc * 4 + d.Bp * d.L * 4, latent = d.Bp * d.Cin * d.Tx * d.Hx * d.Wx * 4 }
  out.carried.total = out.carried.cond + out.carried.latent
  local arena, resident, reload = 0, 0, 0
  for _, name in ipairs(M.PHASES) do
    local part = out.parts[name]
    arena = math.max(arena, part.arena)
    resident = resident + part.weights
    reload = math.max(reload, part.weights)
  end
  out.arena = arena + out.carried.total
  out.weights = { resident = resident, reload = reload }
  out.total = { resident = out.arena + resident, reload = out.arena + reload }
  return out
end

local function mib(n) return string.format("%10.2f MiB", n / 1048576) end

-- The pipeline's plan.txt: per phase its part, arena and weights, what crosses phases, and the
-- totals with the weights resident and reloaded (the variant's mode marked).
function M.plan_txt(pl, v, source)
  local out = {
    string.format("# ditc pipeline plan: %s/%s", v.family, v.name),
    "# generated by gen/main.lua from " .. source .. "; do not edit",
    "# phases run one after another on one arena; only the conditioning and the latent cross phases",
    "",
    string.format("%-8s %-44s %-7s %16s %16s", "phase", "part", "storage", "arena", "weights"),
  }
  for _, name in ipairs(M.PHASES) do
    local p = pl.parts[name]
    out[#out + 1] = string.format("%-8s %-44s %-7s %16s %16s", name, p.v.family .. "/" .. p.v.name, p.v.storage,
      mib(p.arena), mib(p.weights))
  end
  out[#out + 1] = ""
  out[#out + 1] = string.format("carried across phases: conditioning %s, latent %s", mib(pl.carried.cond),
    mib(pl.carried.latent))
  out[#out + 1] = string.format("arena: the largest phase + carried = %s", mib(pl.arena))
  for _, mode in ipairs({ "resident", "reload" }) do
    out[#out + 1] = string.format("total with weights %-8s %s (weights %s)%s", mode .. ":", mib(pl.total[mode]),
      mib(pl.weights[mode]), mode == pl.mode and "  <- this variant" or "")
  end
  return table.concat(out, "\n") .. "\n"
end

return M
