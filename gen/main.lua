-- main.lua: the generator's command line. Loads and validates a model description, resolves one
-- variant (named, or from an upstream config.json plus sizes), bakes the sampler schedule and
-- PAB tables, builds the op program and memory plan, and writes the variant's files into --out,
-- each only if its content changed, plus a depfile of everything read.
-- Usage: see usage() below or README.md. Not here: any model or backend logic.
local root = (arg and arg[0] or ""):match("^(.*)gen/main%.lua$") or ""
local module_path = dofile(root .. "gen/paths.lua")(root)
require("strict")

local util = require("util")
local describe = require("describe")
local bake = require("bake")
local emit = require("emit")
local report = require("report")
local schedule = require("schedule")
local Program = require("program")
local pipeline = require("pipeline")

-- Creates directory d (one call, the path quoted for sh) unless it exists.
local function mkdir(d)
  if not os.rename(d, d) then
    local ok = os.execute("mkdir -p '" .. d:gsub("'", "'\\''") .. "'")
    if not ok then util.fail(nil, "cannot create the output directory %s", d) end
  end
end

-- Every option, once: the parser and --help both read this table (value = nil: a flag).
local OPTIONS = {
  { "model", "F", "the model description (models/*.lua): architecture defaults, blocks, sampler, PAB, variants" },
  { "variant", "NAME", "a named variant of the model description" },
  { "config", "F", "an upstream config.json (e.g. hpcai-tech/OpenSora-STDiT-v3's) defining the architecture" },
  { "name", "NAME", "the variant's name: with --config, or for a variant derived by --sp/--pab/--cfg-parallel" },
  { "height", "PX", "the pipeline's frame height in pixels (with --config)" },
  { "width", "PX", "the pipeline's frame width in pixels (with --config)" },
  { "frames", "N", "the pipeline's frame count (with --config; a VAE's pixel frames where the family needs it)" },
  { "latent", "T,H,W", "the latent size (default: the family's VAE rule from --height, --width, --frames); a VAE's: C,T,H,W" },
  { "steps", "K", "sampler steps (default: the description's)" },
  { "cfg", "SCALE", "classifier-free guidance scale (default: the description's)" },
  { "fps", "F", "the frame rate the model is conditioned on (default: the description's)" },
  { "text-len", "L", "text tokens (LatteT2V; STDiT3 reads model_max_length)" },
  { "seq-len", "L", "a text encoder's tokens per row (with --config; T5EncoderModel)" },
  { "batch", "N", "a text encoder's rows per call (with --config; default 1): a binary runs any number of rows" },
  { "micro-batch", "N", "a VAE's frames per 2-D decoder call (with --config; Open-Sora; default the config's)" },
  { "tiling", "T", "Open-Sora-Plan's VAE tiles: off or SAMPLE,LATENT,SAMPLE_T,LATENT_T,OVERLAP (default the released)" },
  { "pipeline-dtype", "D", "fp32|bf16|fp16: upstream's pipeline rounding of timesteps, sizes, RoPE (default: the family's)" },
  { "dtype", "D", "deprecated name of --pipeline-dtype" },
  { "pab", "P", "default (the description's config), off, or a JSON file in VideoSys PABConfig field names" },
  { "backend", "B", "cpu (default: the fp32 reference) or cuda (the GPU fast path, single rank)" },
  { "storage", "S", "fp32|bf16|fp16: what a CUDA build stores tensors in (default: the family's; the CPU: fp32)" },
  { "attention", "A", "own (default: ditc's kernels) or cudnn (cuDNN's fused SDPA; CUDA, 16-bit storage): the attention kernels" },
  { "sp", "P", "sequence-parallel degree: P ranks share the frames" },
  { "cfg-parallel", nil, "split the CFG batch over 2 x P ranks" },
  { "pipeline", nil, "a denoiser's whole pipeline (the description's `pipeline`): its text encoder, transformer and VAE "
    .. "into DIR/text, DIR/denoise, DIR/decode and the pipeline's plan.txt over the three phases" },
  { "model-dir", "DIR", "a pipeline from a model folder as users download it: every part's config.json from its "
    .. "released repository's folder under DIR (the description's `pipeline`); implies --pipeline, needs --name, "
    .. "--height, --width, --frames" },
  { "weights", "MODE", "a pipeline's weights: reload (each phase's loaded at its start) or resident (all loaded at "
    .. "start-up, for GPUs big enough); default the description's `pipeline.weights`" },
  { "transformer", "DIR", "with --model-dir: the transformer's folder elsewhere" },
  { "text-encoder", "DIR", "with --model-dir: the text encoder's folder elsewhere" },
  { "vae", "DIR", "with --model-dir: the VAE's folder elsewhere" },
  { "out", "DIR", "output directory (created if missing); files are written only when they change" },
  { "quiet", nil, "no summary line and no notes" },
  { "help", nil, "this text" },
}
local option = {}
for _, o in ipairs(OPTIONS) do option[o[1]] = o end

local function usage()
  local lines = {
    "usage: lua5.4 gen/main.lua --model models/FAMILY.lua --variant NAME --out DIR [options]",
    "       lua5.4 gen/main.lua --model models/FAMILY.lua --config config.json --name NAME --height PX --width PX",
    "                           --frames N --out DIR [options]",
  }
  for _, o in ipairs(OPTIONS) do
    lines[#lines + 1] = string.format("  %-20s %s", "--" .. o[1] .. (o[2] and (" " .. o[2]) or ""), o[3])
  end
  return table.concat(lines, "\n")
end

local function parse(argv)
  local o = {}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    local name = a:match("^%-%-([%w-]+)$")
    if not name then util.fail(nil, "unexpected argument %q (see --help)", a) end
    if not option[name] then util.fail(nil, "unknown option --%s (see --help)", name) end
    if not option[name][2] then
      o[name] = true
      i = i + 1
    else
      local val = argv[i + 1]
      if val == nil then util.fail(nil, "--%s needs a value (%s)", name, option[name][3]) end
      o[name] = val
      i = i + 2
    end
  end
  return o
end

local function int_opt(o, name)
  if o[name] == nil then return nil end
  local n = math.tointeger(tonumber(o[name]))
  if not n then util.fail(nil, "--%s must be an integer, got %q", name, o[name]) end
  return n
end

local function num_opt(o, name)
  if o[name] == nil then return nil end
  local n = tonumber(o[name])
  if not n then util.fail(nil, "--%s must be a number, got %q", name, o[name]) end
  return n
end

-- FNV-1a 64 over the content of every file read: the "inputs hash" stamped on generated files.
local function hash_files(paths)
  local h = 0xcbf29ce484222325
  for _, p in ipairs(paths) do
    local f = assert(io.open(p, "rb"))
    local s = f:read("a")
    f:close()
    for i = 1, #p do h = ((h ~ p:byte(i)) * 0x100000001b3) end
    for i = 1, #s do h = ((h ~ s:byte(i)) * 0x100000001b3) end
  end
  return string.format("%016x", h)
end

-- The pipeline dtype of --pipeline-dtype (or its old name --dtype, with a note), or nil.
local function pipeline_dtype(o)
  if o.dtype then
    if o["pipeline-dtype"] then util.fail(nil, "--dtype is the old name of --pipeline-dtype: give one of them") end
    util.note("--dtype is deprecated: it is --pipeline-dtype (the pipeline's rounding; --storage is what a CUDA build stores)")
    o["pipeline-dtype"] = o.dtype
  end
  local d = o["pipeline-dtype"]
  if d and d ~= "fp32" and d ~= "bf16" and d ~= "fp16" then
    util.fail(nil, "--pipeline-dtype must be fp32, bf16 or fp16, got %q", d)
  end
  return d
end

-- --pab: the words default and off, else a file that must exist.
local function pab_opt(o)
  local p = o.pab
  if p and p ~= "default" and p ~= "off" then
    local f, err = io.open(p, "rb")
    if not f then
      util.fail(nil, "--pab takes default, off or a PAB config JSON file (VideoSys PABConfig names); %q is neither "
        .. "(%s)", p, err)
    end
    f:close()
  end
  return p
end

local function run(argv)
  local started = os.clock()
  local o = parse(argv)
  if o.help then print(usage()); return end
  if o.quiet then util.quiet = true end
  if not o.model then util.fail(nil, "--model is required (see --help)") end
  if not o.out then util.fail(nil, "--out is required (see --help)") end
  local backend = o.backend or "cpu"
  if not emit.ext[backend] then util.fail(nil, "--backend must be cpu or cuda, got %q", backend) end
  local dtype, pab_arg = pipeline_dtype(o), pab_opt(o)

  local fam = describe.load_family(o.model)
  local v, source_desc
  -- --model-dir: the parts' folders (a released layout under DIR, or each given), their config.json
  local part_configs
  for _, k in ipairs({ "transformer", "text-encoder", "vae" }) do
    if o[k] and not o["model-dir"] then util.fail(nil, "--%s applies to --model-dir", k) end
  end
  if o["model-dir"] then
    if fam.cls.kind ~= "denoiser" or not fam.pipeline then
      util.fail(nil, "--model-dir needs a denoiser family whose description has a `pipeline` record (%s has none)", o.model)
    end
    if o.config or o.variant then util.fail(nil, "--model-dir and --%s exclude each other", o.config and "config" or "variant") end
    o.pipeline = true
    local dir = o["model-dir"]:gsub("/$", "")
    local function folder(flag, rec)
      local d = o[flag] or (dir .. "/" .. rec.folder)
      local path = d:gsub("/$", "") .. "/config.json"
      local f = io.open(path, "rb")
      if not f then
        util.fail(nil, "%s: no config.json (the %s's folder: %s)", path, flag:gsub("%-", " "), o[flag] and ("--" .. flag)
          or ("--model-dir + " .. rec.folder))
      end
      f:close()
      return path
    end
    local p = fam.pipeline
    o.config = folder("transformer", p.transformer)
    part_configs = { text = folder("text-encoder", p.text_encoder), decode = folder("vae", p.vae) }
  end
  local network = fam.cls.kind == "network"
  local own = network and fam.cls.cli or {} -- a network's own flags (cls.cli), e.g. a VAE's --latent and --frames
  for flag in pairs(network and {} or { ["seq-len"] = true, batch = true }) do
    if o[flag] then util.fail(nil, "--%s applies to a network's --config (%s is a denoiser)", flag, fam.family) end
  end
  if o.config and network then
    if o.variant then util.fail(nil, "--variant and --config exclude each other") end
    if not o.name then util.fail(nil, "--name is required with --config") end
    for _, k in ipairs({ "height", "width", "frames", "latent", "steps", "cfg", "fps", "text-len", "sp", "pab" }) do
      if o[k] and not own[k] then util.fail(nil, "--%s applies to denoisers; %s (class %s) is a network", k, fam.family,
        fam.class) end
    end
    for flag in pairs(option) do
      local field = own[flag]
      if o[flag] and not field and (flag == "seq-len" or flag == "batch" or flag == "tiling" or flag == "micro-batch") then
        util.fail(nil, "--%s does not apply to %s (class %s)", flag, fam.family, fam.class)
      end
    end
    local settings = {}
    for flag, field in pairs(own) do
      if type(field) == "string" then settings[field] = int_opt(o, flag)
      else settings[field.field] = o[flag] and field.parse(o[flag], "--" .. flag) end
    end
    v = describe.from_config_json(fam, o.config, { name = o.name, network = settings })
    source_desc = o.model .. " + " .. o.config
  elseif o.config then
    if o.variant then util.fail(nil, "--variant and --config exclude each other") end
    if not o.name then util.fail(nil, "--name is required with --config") end
    for _, req in ipairs({ "height", "width", "frames" }) do
      if not o[req] then util.fail(nil, "--%s is required with --config", req) end
    end
    local latent
    if o.latent then
      local t, h, w = o.latent:match("^(%d+),(%d+),(%d+)$")
      if not t then util.fail(nil, "--latent must be T,H,W, got %q", o.latent) end
      latent = { math.tointeger(tonumber(t)), math.tointeger(tonumber(h)), math.tointeger(tonumber(w)) }
    end
    v = describe.from_config_json(fam, o.config, {
      name = o.name, height = int_opt(o, "height"), width = int_opt(o, "width"), num_frames = int_opt(o, "frames"),
      latent = latent, steps = int_opt(o, "steps"), cfg_scale = num_opt(o, "cfg"), fps = num_opt(o, "fps"),
      dtype = dtype, pab = pab_arg, text_len = int_opt(o, "text-len"), sp = int_opt(o, "sp"),
      cfg_parallel = o["cfg-parallel"] or nil,
    })
    source_desc = o.model .. " + " .. o.config .. (o.attention and (" (--attention " .. o.attention .. ")") or "")
  else
    if not o.variant then util.fail(nil, "--variant or --config is required (see --help)") end
    for _, k in ipairs({ "height", "width", "frames", "latent", "steps", "cfg", "fps", "text-len", "seq-len", "batch",
      "tiling", "micro-batch" }) do
      if o[k] then util.fail(nil, "--%s applies to --config (a named variant sets it in the description)", k) end
    end
    v = describe.named(fam, o.variant, { sp = int_opt(o, "sp"), pab = pab_arg ~= "default" and pab_arg or nil,
      cfg_parallel = o["cfg-parallel"], name = o.name, dtype = dtype })
    source_desc = o.model .. " (variant " .. o.variant .. (o.sp and (", --sp " .. o.sp) or "")
      .. (o["cfg-parallel"] and ", --cfg-parallel" or "")
      .. (dtype and (", --pipeline-dtype " .. dtype) or "")
      .. (o.pab and (", --pab " .. o.pab) or "") .. (o.attention and (", --attention " .. o.attention) or "") .. ")"
  end

  -- storage: fp32 on the CPU (the reference); on CUDA the family's dtype unless --storage says
  if o.storage and backend ~= "cuda" then util.fail(nil, "--storage applies to --backend cuda only") end
  if o.storage and not Program.STORAGE[o.storage] then util.fail(nil, "--storage must be fp32, bf16 or fp16, got %q", o.storage) end
  v.backend = backend
  v.storage = backend == "cuda" and (o.storage or fam.dtype) or "fp32"
  -- attention kernels: the own ones, or cuDNN's fused SDPA (CUDA, 16-bit storage: cuDNN has no fp32 SDPA)
  local attention = o.attention or "own"
  if attention ~= "own" and attention ~= "cudnn" then util.fail(nil, "--attention must be own or cudnn, got %q", attention) end
  if o.attention and backend ~= "cuda" then util.fail(nil, "--attention applies to --backend cuda only") end
  if attention == "cudnn" and v.storage == "fp32" then
    util.fail(nil, "--attention cudnn needs 16-bit storage (cuDNN's SDPA has no fp32 path): --storage bf16 or fp16")
  end
  local baked = bake.variant(fam, v, o.config and "command line: --frames" or fam.where({ "variants", v.name, "num_frames" }))
  local denoiser = v.kind == "denoiser"
  if denoiser and backend == "cuda" and (v.dims.sp > 1 or v.dims.cfgp > 1) then
    util.fail(nil, "--backend cuda runs single-rank variants for now (device-resident collectives are not built yet)")
  end
  local pl
  if o.weights and not o.pipeline then util.fail(nil, "--weights applies to --pipeline or --model-dir") end
  if o.pipeline then
    if not denoiser or not fam.pipeline then
      util.fail(nil, "--pipeline needs a denoiser family whose description has a `pipeline` record (%s has none)", o.model)
    end
    if o.weights and o.weights ~= "reload" and o.weights ~= "resident" then
      util.fail(nil, "--weights must be reload or resident, got %q", o.weights)
    end
    pl = pipeline.bake(fam, v, baked, part_configs, o.weights)
  end

  -- templates are read while emitting; load them first so the hash covers them
  local ext = emit.ext[backend]
  local tpl = { "templates/" .. backend .. "/ops." .. ext .. ".in", "templates/" .. backend .. "/forward." .. ext .. ".in",
    "templates/offsets.h.in", "templates/tables.c.in" }
  if pl then tpl[#tpl + 1] = "templates/pipeline.c.in" end
  for _, t in ipairs(tpl) do util.note_read(root .. t) end
  local gen_files = { root .. "gen/main.lua", root .. "gen/paths.lua" }
  for name in pairs(package.loaded) do
    local path = package.searchpath(name, module_path)
    if path then gen_files[#gen_files + 1] = path end
  end
  table.sort(gen_files)
  for _, p in ipairs(gen_files) do util.note_read(p) end
  local hash = hash_files(util.reads)

  local dir = o.out:gsub("/$", "")
  local written, nfiles = 0, 0
  -- one variant's generated files into d (created if missing): returns how many changed
  local function write_variant(d, vv, b, source)
    local den = vv.kind == "denoiser"
    local ctx = {
      variant = vv, sched = b.sched, program = b.program, pab = b.pab, plan = b.plan, source_desc = source,
      comm = b.comm, hash = hash, pab_comment = den and schedule.pab_params(vv, " * "), attention = attention,
    }
    ctx.schedule_txt = den and schedule.schedule_txt(ctx)
    local files = {
      { "forward." .. ext, emit.forward_c(ctx, backend) },
      { "offsets.h", emit.offsets_h(ctx) },
      { "tables.c", emit.tables_c(ctx) },
      { "entry.c", emit.entry_c(ctx) },
      { "plan.txt", report.plan_txt(ctx) },
      { "manifest.txt", report.manifest_txt(ctx) },
    }
    if den then table.insert(files, 5, { "schedule.txt", ctx.schedule_txt }) end
    mkdir(d)
    for _, f in ipairs(files) do
      nfiles = nfiles + 1
      if util.write_if_changed(d .. "/" .. f[1], f[2]) then written = written + 1 end
    end
  end
  if pl then
    for _, ph in ipairs(pipeline.PHASES) do
      local part = pl.parts[ph]
      write_variant(dir .. "/" .. ph, part.v, part.baked, ph == "denoise" and source_desc
        or (source_desc .. ", " .. ph .. ": " .. part.v.source.model))
    end
    mkdir(dir)
    local plan = pipeline.plan_txt(pl, v, source_desc)
    for name, text in pairs({ ["plan.txt"] = plan, ["pipeline.c"] = pipeline.pipeline_c(pl, v, source_desc, hash, plan) }) do
      nfiles = nfiles + 1
      if util.write_if_changed(dir .. "/" .. name, text) then written = written + 1 end
    end
  else
    write_variant(dir, v, baked, source_desc)
  end
  local first = dir .. (pl and "/denoise" or "") .. "/forward." .. ext
  local deps = { first .. ":" }
  for _, p in ipairs(util.reads) do deps[#deps + 1] = p end
  util.write_if_changed(dir .. "/gen.d", table.concat(deps, " \\\n  ") .. "\n")
  util.flush_notes()
  if not o.quiet then
    local P = baked.program
    local what = denoiser and string.format("%d steps, %d PAB modules", baked.sched.K, #P.modules)
      or string.format("a network, %d phase%s", #P.phases, #P.phases == 1 and "" or "s")
    if pl then
      print(string.format("gen: %s/%s: a pipeline (text, denoise, decode), arena %d bytes, weights %d bytes %s; "
        .. "%d of %d files changed (%.2f s)", v.family, v.name, pl.arena, pl.weights[pl.mode], pl.mode, written, nfiles,
        os.clock() - started))
    else
      print(string.format("gen: %s/%s: %s, arena %d bytes, %d weight tensors (%d elements); "
        .. "%d of %d files changed (%.2f s)", v.family, v.name, what, baked.plan.arena_bytes,
        #P.weight_list, P.weight_elems, written, nfiles, os.clock() - started))
    end
  end
end

-- a user error is one line; anything else is a bug in gen/, reported with the traceback where it rose
local ok, err = xpcall(run, function(e)
  if type(e) == "table" and e.gen_error then return e end
  return debug.traceback(tostring(e), 2)
end, arg)
if not ok then
  if type(err) == "table" then
    io.stderr:write("gen: error: " .. err.gen_error .. "\n")
    os.exit(1)
  end
  io.stderr:write("gen: internal error: " .. err .. "\n")
  os.exit(2)
end
