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
local json = require("json")
local template = require("template")
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
    tokenizer_folder = S.str {}, -- where spiece.model is (default: the text encoder's folder)
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

-- The canonical JSON text of a config value, which runtime/pipeline/config_check.c writes the
-- same way for the file it reads: integers (and integral numbers below 2^53) in decimal, other
-- numbers as %.17g, strings with '"', '\\' and control characters escaped, objects in file order.
local function canon(x)
  if x == nil or x == json.null then return "null" end
  local t = type(x)
  if t == "boolean" then return tostring(x) end
  if t == "number" then
    if math.type(x) == "integer" then return string.format("%d", x) end
    if x == math.floor(x) and math.abs(x) < 2 ^ 53 then return string.format("%d", math.tointeger(x)) end
    return string.format("%.17g", x)
  end
  if t == "string" then
    return '"' .. x:gsub('[%c"\\]', function(c)
      if c == '"' or c == "\\" then return "\\" .. c end
      return string.format("\\u%04x", c:byte())
    end) .. '"'
  end
  local out = {}
  if json.is_object(x) then
    for _, k in ipairs(json.keys(x)) do out[#out + 1] = canon(k) .. ":" .. canon(x[k]) end
    return "{" .. table.concat(out, ",") .. "}"
  end
  for i = 1, #x do out[i] = canon(x[i]) end
  return "[" .. table.concat(out, ",") .. "]"
end
M.canon = canon

-- What the binary checks of a part's config.json at run time: every leaf of the config.json the
-- part was generated from (objects descended into, "a.b" paths), as canonical JSON, except keys
-- starting with "_" and the class's top-level metadata and ignored fields (which `skip` lists);
-- a run-time file must hold each leaf with the same value and no other top-level field. A part
-- generated from its description (no config.json) has no leaves: the checkpoint's names and
-- shapes are what the run checks.
local function config_checks(fam, path)
  local cls = fam.cls
  local skip = {}
  for k in pairs(cls.config_json_metadata or {}) do skip[#skip + 1] = k end
  for k in pairs(cls.config_json_ignored or {}) do skip[#skip + 1] = k end
  table.sort(skip)
  local fields = {}
  if path then
    local obj = json.decode(util.read_file(path), path)
    local function walk(o, prefix, top)
      for _, k in ipairs(json.keys(o)) do
        local x = o[k]
        if not k:match("^_") and not (top and (cls.config_json_metadata[k] or cls.config_json_ignored[k])) then
          if json.is_object(x) then walk(x, prefix .. k .. ".", false)
          else fields[#fields + 1] = { path = prefix .. k, value = canon(x) } end
        end
      end
    end
    walk(obj, "", true)
  end
  return { fields = fields, skip = skip, class_names = cls.class_names }
end

-- Bakes the pipeline of denoiser variant v (already baked: `den`, bake.variant's result) for the
-- build's backend, with its weights mode (nil: the description's). Returns { parts = { text, denoise, decode } each { v, baked, arena, weights,
-- checks, folder }, carried, layout, arena, weights = { resident, reload }, mode }.
function M.bake(fam, v, den, configs, weights_mode)
  local d = v.dims
  if d.Bp ~= 1 then
    util.fail(nil, "a pipeline runs one prompt a generation: %s/%s has %d prompts a call", v.family, v.name, d.Bp)
  end
  local ps = parts(fam, v, configs)
  local out = { parts = {}, mode = weights_mode or fam.pipeline.weights, spec = fam.pipeline }
  for _, name in ipairs({ "text", "decode" }) do
    local part = ps[name]
    part.v.backend = v.backend
    part.v.storage = v.backend == "cuda" and part.dtype or "fp32"
    part.baked = bake.variant(part.fam, part.v)
  end
  ps.denoise = { fam = fam, v = v, baked = den }
  local p = fam.pipeline
  local folders = { text = p.text_encoder.folder, denoise = p.transformer.folder, decode = p.vae.folder }
  local config_of = { text = configs and configs.text, denoise = v.source and v.source.config, decode = configs and configs.decode }
  for _, name in ipairs(M.PHASES) do
    local part = ps[name]
    local P = part.baked.program
    part.arena = part.baked.plan.arena_bytes
    part.weights = P.weight_elems * P.st_bytes
    part.folder = folders[name]
    part.checks = config_checks(part.fam, config_of[name])
    out.parts[name] = part
  end
  -- what crosses phases: the DiT's conditioning inputs (its --cond tensors: text [Bp, L, Cc], fp32;
  -- a mask [Bp, L], int32) and the latent [Bp, Cin, Tx, Hx, Wx] (fp32)
  -- (a text input of the uncond half: the family encodes a negative prompt with T5)
  local cond = 0
  out.negative = false
  for _, inp in ipairs(den.program.inputs) do
    cond = cond + (inp.role == "DITC_IN_TEXT" and d.Bp * d.L * d.Cc * 4 or d.Bp * d.L * 4)
    if inp.role == "DITC_IN_TEXT" and inp.half == 1 then out.negative = true end
  end
  out.carried = { cond = cond, latent = d.Bp * d.Cin * d.Tx * d.Hx * d.Wx * 4 }
  out.carried.total = out.carried.cond + out.carried.latent
  local phase, resident, reload = 0, 0, 0
  for _, name in ipairs(M.PHASES) do
    local part = out.parts[name]
    phase = math.max(phase, part.arena)
    resident = resident + part.weights
    reload = math.max(reload, part.weights)
  end
  -- one arena: every phase's part at offset 0 (its own plan's offsets), the carried tensors after
  -- the largest phase (256-byte aligned, as the parts' buffers are)
  out.layout = { phase = phase, carried = (phase + 255) // 256 * 256 }
  out.layout.cond, out.layout.latent = out.layout.carried, out.layout.carried + out.carried.cond
  out.arena = out.layout.carried + out.carried.total
  out.weights = { resident = resident, reload = reload }
  out.ranks = d.sp * d.cfgp -- each rank's denoise arena is its part's plan (the work of one rank)
  out.total = { resident = out.arena + resident, reload = out.arena + reload }
  return out
end

local function mib(n) return string.format("%10.2f MiB", n / 1048576) end

-- The peak of a phase: its part's arena, what is carried, and the weights held while it runs
-- (resident: every part's; reload: its own).
function M.phase_peak(pl, name, mode)
  local part = pl.parts[name]
  return part.arena + pl.carried.total + (mode == "resident" and pl.weights.resident or part.weights)
end

-- The pipeline's plan.txt: per phase its part, arena, weights and peak in the variant's weights
-- mode, what crosses phases, the totals resident and reloading (the variant's marked), then the
-- same in bytes: what the binary allocates (its --json summary reports these, tests compare).
function M.plan_txt(pl, v, source)
  local mode = pl.mode
  local out = {
    string.format("# ditc pipeline plan: %s/%s", v.family, v.name),
    "# generated by gen/main.lua from " .. source .. "; do not edit",
    "# phases run one after another on one arena; only the conditioning and the latent cross phases",
    "",
    string.format("%-8s %-40s %-7s %14s %14s %14s", "phase", "part", "storage", "arena", "weights", "peak"),
  }
  local largest = M.PHASES[1]
  for _, name in ipairs(M.PHASES) do
    local p = pl.parts[name]
    if p.arena > pl.parts[largest].arena then largest = name end
    out[#out + 1] = string.format("%-8s %-40s %-7s %s %s %s", name, p.v.family .. "/" .. p.v.name, p.v.storage,
      mib(p.arena), mib(p.weights), mib(M.phase_peak(pl, name, mode)))
  end
  out[#out + 1] = string.format("(peak: the phase's arena + what is carried + the weights held, %s)", mode == "reload"
    and "each phase's own: they are loaded at its start" or "every phase's: they stay resident")
  out[#out + 1] = ""
  out[#out + 1] = string.format("carried across phases: conditioning %s, latent %s", mib(pl.carried.cond),
    mib(pl.carried.latent))
  out[#out + 1] = string.format("arena: the largest phase (%s) + carried = %s", largest, mib(pl.arena))
  for _, m in ipairs({ "resident", "reload" }) do
    out[#out + 1] = string.format("total with weights %-8s %s (weights %s)%s", m .. ":", mib(pl.total[m]),
      mib(pl.weights[m]), m == mode and "  <- this variant" or "")
  end
  if pl.ranks > 1 then
    out[#out + 1] = string.format("ranks: %d (the denoise phase's arena is one rank's); one NCCL process a rank holds "
      .. "this plan; thread ranks (--ranks %d) add %d denoise arenas = %s", pl.ranks, pl.ranks, pl.ranks - 1,
      mib((pl.ranks - 1) * pl.parts.denoise.arena))
  end
  out[#out + 1] = ""
  out[#out + 1] = "bytes (what the binary allocates; its --json summary reports the same):"
  for _, name in ipairs(M.PHASES) do
    local p = pl.parts[name]
    out[#out + 1] = string.format("  %-8s arena %d weights %d peak %d", name, p.arena, p.weights, M.phase_peak(pl, name, mode))
  end
  out[#out + 1] = string.format("  %-8s cond %d latent %d", "carried", pl.carried.cond, pl.carried.latent)
  if pl.ranks > 1 then
    out[#out + 1] = string.format("  %-8s %d thread_rank_arenas %d", "ranks", pl.ranks, (pl.ranks - 1) * pl.parts.denoise.arena)
  end
  out[#out + 1] = string.format("  %-8s arena %d weights %d total %d (weights %s)", "total", pl.arena, pl.weights[mode],
    pl.total[mode], mode)
  return table.concat(out, "\n") .. "\n"
end

-- A C string literal of s: '"', '\\' and '?' (trigraphs) escaped, other bytes outside printable
-- ASCII as octal.
local function cstr(s)
  return '"' .. s:gsub('[\0-\31\127-\255\\"?]', function(c)
    if c == "\n" then return "\\n" end
    if c == "\\" or c == '"' or c == "?" then return "\\" .. c end
    return string.format("\\%03o", c:byte())
  end) .. '"'
end

local WHAT = { text = "the text encoder", denoise = "the transformer", decode = "the VAE decoder" }

-- pipeline.c: the descriptor (templates/pipeline.c.in) of the baked pipeline pl.
function M.pipeline_c(pl, v, source, hash, plan_text)
  local T = template.load("templates/pipeline.c.in")
  local fam_p = pl.spec
  local values = {
    source = source, family = v.family, name = v.name, hash = hash,
    tokenizer_folder = fam_p.text_encoder.tokenizer_folder or fam_p.text_encoder.folder,
    tokenizer = fam_p.text_encoder.tokenizer, clean = fam_p.text_encoder.clean,
    negative = pl.negative and 1 or 0, negative_default = pl.negative and cstr("") or "NULL",
    weights_mode = pl.mode == "reload" and "DITC_WEIGHTS_RELOAD" or "DITC_WEIGHTS_RESIDENT", fps = fam_p.fps,
    arena_bytes = pl.arena, off_cond = pl.layout.cond, cond_bytes = pl.carried.cond, off_latent = pl.layout.latent,
    latent_bytes = pl.carried.latent, weight_bytes = pl.weights[pl.mode],
  }
  local parts, inits = {}, {}
  for _, name in ipairs(M.PHASES) do
    local part = pl.parts[name]
    values[name .. "_symbol"] = part.v.symbol
    local fields, skip, names = {}, {}, {}
    for _, f in ipairs(part.checks.fields) do fields[#fields + 1] = "  {" .. cstr(f.path) .. ", " .. cstr(f.value) .. "}," end
    for _, k in ipairs(part.checks.skip) do skip[#skip + 1] = cstr(k) end
    for _, k in ipairs(part.checks.class_names) do names[#names + 1] = cstr(k) end
    local n_fields, n_skip = #fields, #skip
    if n_fields == 0 then fields[1] = "  {NULL, NULL}, /* none: generated from the description */" end
    if n_skip == 0 then skip[1] = "NULL" end
    parts[#parts + 1] = template.render(T, "part", { part = name, what = WHAT[name] .. " " .. part.v.family .. "/"
      .. part.v.name .. (n_fields > 0 and (", " .. n_fields .. " config.json fields") or ""),
      fields = table.concat(fields, "\n"), skip = table.concat(skip, ", "), class_names = table.concat(names, ", ") })
    inits[#inits + 1] = template.render(T, "part_init", { part = name, symbol = part.v.symbol, folder = part.folder,
      n_fields = n_fields, n_skip = n_skip, n_class_names = #names, arena = part.arena, weights = part.weights })
  end
  values.parts, values.parts_init = table.concat(parts, "\n\n"), table.concat(inits, "\n")
  local lines = {}
  for line in plan_text:gmatch("([^\n]*)\n") do lines[#lines + 1] = "  " .. cstr(line .. "\n") end
  values.plan_text = table.concat(lines, "\n")
  return template.render(T, "file", values) .. "\n"
end

return M
