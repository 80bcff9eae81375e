-- describe.lua: loads a model description (models/*.lua), validates it against its class's
-- schema and resolves one variant (named, or defined by an upstream config.json plus sizes) into
-- the flat table every later stage reads. Errors are `file:line: message`. A class's kind picks
-- the schema and the resolution: a network's here, a denoiser's in describe_denoiser.lua.
-- Not here: timesteps, PAB tables or the op program.
local S = require("schema")
local util = require("util")
local json = require("json")
local D = require("describe_denoiser")

local M = {}

-- ---- schema ------------------------------------------------------------------------------------

-- Model classes: each owns its config fields (the upstream config.json names), their checks and
-- the dims they imply, plus its op-program builder.
-- A class's kind: "denoiser" (the default: a sampler, cache tables, sequence parallelism on top
-- of its graph) or "network" (a graph with named io and no sampler: an encoder, a decoder).
local classes = { STDiT3 = require("stdit3"), LatteT2V = require("latte"), ToyMLP = require("toy_mlp"),
  ToyScan = require("toy_scan"), T5EncoderModel = require("t5"), VideoAutoencoderPipeline = require("vae_opensora"),
  AutoencoderKLTemporalDecoder = require("vae_latte"), CausalVAEModel = require("vae_osp") }
for _, cls in pairs(classes) do cls.kind = cls.kind or "denoiser" end
local class_names = util.sorted_keys(classes)

-- A network's description: its config, its variants (the class's own fields plus config
-- overrides) and an optional dtype; nothing of a denoiser.
local function network_variant_schema(cls)
  local fields = util.copy(cls.variant_fields)
  fields.config = S.record(cls.config_fields)
  return S.record(fields, { required = cls.variant_required })
end

local function network_schema(cls)
  return S.record({
    family = S.NAME, class = S.str { enum = class_names }, symbol = S.NAME,
    config = S.record(cls.config_fields, { required = cls.config_required }), dtype = S.DTYPE,
    variants = S.map(network_variant_schema(cls)),
  }, { required = { "family", "class", "symbol", "config", "variants" } })
end

local function family_schema(cls)
  if cls.kind == "network" then return network_schema(cls) end
  return D.family_schema(cls, class_names)
end

-- ---- loading -----------------------------------------------------------------------------------

function M.load_family(path)
  local text = util.read_file(path)
  -- a description is data, but may use plain Lua helpers to build it (no I/O, no globals)
  local env = { ipairs = ipairs, pairs = pairs, math = math, string = string, table = table, tostring = tostring }
  local chunk, err = load(text, "@" .. path, "t", env)
  if not chunk then util.fail(nil, "%s", err) end
  -- a description that loops or recurses without end is refused after a budget of instructions
  local budget = 10000000
  debug.sethook(function() error(string.format("%s: the description did not finish within %d Lua instructions",
    path, budget), 0) end, "", budget)
  local ok, fam = pcall(chunk)
  debug.sethook()
  if not ok then
    local msg = type(fam) == "string" and fam:gsub("\n.*", "") or "raised an error value that is not a string"
    if msg:sub(1, #path + 1) ~= path .. ":" then msg = path .. ": " .. msg end
    util.fail(nil, "%s", msg)
  end
  local where = util.srcmap(path, text)
  local function fail(p, msg)
    util.fail(where(p), "%s: %s", S.path_str(p) ~= "" and S.path_str(p) or "description", msg)
  end
  if type(fam) ~= "table" then fail({}, "the description must return a table") end
  S.str { enum = class_names }(fam.class, { "class" }, fail)
  local cls = classes[fam.class]
  family_schema(cls)(fam, {}, fail)
  if cls.check_config then cls.check_config(fam.config, function(k, msg) fail({ "config", k }, msg) end) end
  if not fam.symbol:match("^[a-z][a-z0-9_]*$") then fail({ "symbol" }, "must be a C identifier in lower case") end
  fam.path, fam.where, fam.fail, fam.cls = path, where, fail, cls
  if cls.kind == "denoiser" then D.check(fam, cls, fail) end
  return fam
end

-- Maps an upstream config.json (the class's own format) onto config fields: known fields are
-- checked; fields the class lists as irrelevant to inference are ignored with a note; metadata
-- (the class's list, and names starting with "_") is skipped; anything else is an error at its
-- line. Returns the config and the line of each field.
function M.import_config_json(fam, path)
  local cls = fam.cls
  local text = util.read_file(path)
  local obj, err = json.decode(text, path)
  if not obj then util.fail(nil, "%s", err) end
  if not json.is_object(obj) then util.fail(path .. ":1", "config.json must be an object") end
  local function fail(key, msg)
    util.fail(path .. ":" .. (json.line(obj, key) or 1), "%s: %s", S.path_str({ key }), msg)
  end
  local names = {}
  for _, n in ipairs(cls.class_names) do names[n] = true end
  for _, key in ipairs({ "model_type", "_class_name" }) do
    if obj[key] ~= nil and not names[obj[key]] then
      fail(key, string.format("is %s but %s describes class %s", S.describe(obj[key]), fam.path, fam.class))
    end
  end
  local arch = obj.architectures
  if type(arch) == "table" and arch[1] ~= nil and not names[arch[1]] then
    fail("architectures", string.format("is %s but %s describes class %s", S.describe(arch[1]), fam.path, fam.class))
  end
  local config, lines = {}, {}
  if cls.import_config_json then -- a nested format (a pipeline of parts): the class maps it onto its fields
    local flat = cls.import_config_json(obj, fail, function(msg) util.note("%s: %s", path, msg) end)
    for _, k in ipairs(util.sorted_keys(flat)) do
      if not cls.config_fields[k] then error("describe: " .. fam.class .. " imported an unknown field " .. k) end
      cls.config_fields[k](flat[k], { k }, function(p, msg) util.fail(path, "%s: %s", S.path_str(p), msg) end)
      config[k], lines[k] = flat[k], json.line(obj, k)
    end
    if cls.check_config then cls.check_config(config, function(k, msg) util.fail(path, "%s: %s", k, msg) end) end
    return config, lines
  end
  local known = util.sorted_keys(cls.config_fields)
  local ignored = {}
  for _, k in ipairs(json.keys(obj)) do
    local v = obj[k]
    if v == json.null then v = nil end
    if cls.config_fields[k] then
      if v ~= nil then
        cls.config_fields[k](v, { k }, function(_, msg) fail(k, msg) end)
        config[k], lines[k] = v, json.line(obj, k)
      end
    elseif cls.config_json_ignored[k] then
      ignored[#ignored + 1] = k
    elseif not cls.config_json_metadata[k] and not k:match("^_") then
      local near = util.closest(k, known)
      fail(k, "unknown config.json field (not a " .. fam.class .. " setting ditc knows"
        .. (near and ("; did you mean '" .. near .. "'?") or "") .. ")")
    end
  end
  if not cls.config_json_one_note then -- a note at each line; a class whose configs carry dozens of generic
                                       -- fields (a Hugging Face PretrainedConfig) lists them in one note
    for _, k in ipairs(ignored) do util.note("%s:%d: %s ignored (does not affect inference)", path, json.line(obj, k), k) end
  else
    util.note("%s: %d fields ignored (they do not affect inference): %s", path, #ignored, table.concat(ignored, ", "))
  end
  if cls.check_config then cls.check_config(config, fail) end
  return config, lines
end

-- ---- variant resolution ------------------------------------------------------------------------

-- Resolves a variant. `spec` is either a named variant's table or one assembled from a
-- config.json and command-line sizes; `where(path)` names its source lines.
function M.resolve(fam, name, spec, where, source)
  local function fail(p, msg)
    util.fail(where(p), "%s: %s", #p > 0 and S.path_str(p) or ("variant " .. S.path_str({ name })), msg)
  end
  if fam.cls.kind == "network" then return M.resolve_network(fam, name, spec, fail, source) end
  return D.resolve(fam, name, spec, where, source, fail)
end

-- A network's variant: its config, its class's fields (copied onto the variant) and dims.
function M.resolve_network(fam, name, spec, fail, source)
  network_variant_schema(fam.cls)(spec, {}, fail)
  if not name:match("^[a-z0-9][a-z0-9._-]*$") then fail({}, "the name must be lower-case [a-z0-9._-]") end
  local v = {
    family = fam.family, class = fam.class, kind = "network", name = name, source = source, fam = fam,
    config = util.merge(fam.config, spec.config or {}), dtype = fam.dtype or "fp32",
    symbol = fam.symbol .. "_" .. util.ident(name),
  }
  for k in pairs(fam.cls.variant_fields) do v[k] = spec[k] end
  if fam.cls.check_config then fam.cls.check_config(v.config, function(k, msg) fail({ "config", k }, msg) end) end
  v.dims = fam.cls.dims(v, fail)
  v.fail_size = function(msg) fail({}, msg) end
  return v
end

-- A named variant; over (optional): { sp = N, pab = "off", name = NAME } derives a variant from
-- it with another sequence-parallel degree or PAB off (the command line's --sp / --pab off,
-- which then need --name).
function M.named(fam, name, over)
  local spec = fam.variants[name]
  if not spec then
    local names = util.sorted_keys(fam.variants)
    util.fail(fam.where({ "variants" }), "no variant named %q (known: %s)", name, table.concat(names, ", "))
  end
  local where = function(p)
    local full = { "variants", name }
    for _, x in ipairs(p) do full[#full + 1] = x end
    return fam.where(full)
  end
  if over and (over.sp or over.pab or over.cfg_parallel or over.dtype) then
    if fam.cls.kind == "network" then
      util.fail(nil, "--sp, --pab, --cfg-parallel and --pipeline-dtype apply to denoisers; %s (class %s) is a network",
        fam.family, fam.class)
    end
    local derived
    spec, derived = D.derive(fam, name, spec, over, where)
    return M.resolve(fam, over.name, spec, derived, { model = fam.path, variant = name })
  end
  return M.resolve(fam, name, spec, where, { model = fam.path, variant = name })
end

-- A variant from a config.json plus command-line settings (opts: height, width, num_frames,
-- latent, steps, cfg_scale, fps, dtype, pab ("default" | "off"), name).
function M.from_config_json(fam, config_path, opts)
  local config, lines = M.import_config_json(fam, config_path)
  if fam.cls.kind == "network" then -- the class's own settings come from its command-line flags (cls.cli)
    local spec, flag_of = { config = config }, {}
    for flag, field in pairs(fam.cls.cli or {}) do
      field = type(field) == "table" and field.field or field -- { field, parse }: a flag with its own parser
      spec[field], flag_of[field] = opts.network[field], flag
    end
    local where = function(p)
      if p[1] == "config" and p[2] then return lines[p[2]] and (config_path .. ":" .. lines[p[2]]) or config_path end
      if flag_of[p[1]] then return "command line: --" .. flag_of[p[1]] end
      return config_path
    end
    local function fail(p, msg) util.fail(where(p), "%s: %s", #p > 0 and S.path_str(p) or "variant", msg) end
    for _, field in ipairs(fam.cls.variant_required or {}) do
      if spec[field] == nil then
        util.fail(nil, "--%s is required with --config for %s", flag_of[field] or field, fam.class)
      end
    end
    return M.resolve_network(fam, opts.name, spec, fail, { model = fam.path, config = config_path })
  end
  local spec = {
    config = config,
    height = opts.height, width = opts.width, num_frames = opts.num_frames,
    latent = opts.latent, steps = opts.steps, cfg_scale = opts.cfg_scale, fps = opts.fps,
    dtype = opts.dtype, text_len = opts.text_len, sp = opts.sp, cfg_parallel = opts.cfg_parallel,
  }
  if opts.pab == "off" then spec.pab = D.pab_off(fam.pab, fam.cache_kinds)
  elseif opts.pab and opts.pab ~= "default" then spec.pab = D.pab_from_json(opts.pab, fam.cache_kinds) end
  -- a config field: its line in config.json, or where the description sets the default used;
  -- anything else came from the command line
  local flags = { num_frames = "frames", text_len = "text-len", cfg_scale = "cfg", dtype = "pipeline-dtype",
    cfg_parallel = "cfg-parallel" }
  local where = function(p)
    if p[1] == "config" and p[2] then
      if lines[p[2]] then return config_path .. ":" .. lines[p[2]] end
      return config_path -- a default of the description, checked against the file's fields
    end
    if p[1] == "config" or p[1] == nil then return config_path end
    if p[1] == "pab" and opts.pab ~= "off" then return opts.pab end
    return "command line: --" .. (flags[p[1]] or tostring(p[1] or ""))
  end
  return M.resolve(fam, opts.name, spec, where, { model = fam.path, config = config_path })
end


return M
