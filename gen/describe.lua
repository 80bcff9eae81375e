-- describe.lua: loads a model description (models/*.lua), validates it against the schema and
-- resolves one variant (named, or defined by an upstream config.json plus sizes) into the flat
-- table every later stage reads. Errors are `file:line: message`.
-- Not here: timesteps, PAB tables or the op program.
local S = require("schema")
local util = require("util")
local json = require("json")

local M = {}

-- ---- schema ------------------------------------------------------------------------------------

-- Model classes: each owns its config fields (the upstream config.json names), their checks and
-- the dims they imply, plus its op-program builder.
-- A class's kind: "denoiser" (the default: a sampler, cache tables, sequence parallelism on top
-- of its graph) or "network" (a graph with named io and no sampler: an encoder, a decoder).
local classes = { STDiT3 = require("stdit3"), LatteT2V = require("latte"), ToyMLP = require("toy_mlp") }
for _, cls in pairs(classes) do cls.kind = cls.kind or "denoiser" end
local class_names = util.sorted_keys(classes)

-- Limits shared by every class: sizes are positive integers with a cap far above any released
-- model, so a hostile value is refused here instead of overflowing a derived size later.
M.MAX_DEPTH = 256        -- blocks of each kind
M.MAX_STEPS = 1000       -- sampler steps
M.MAX_PIXELS = 65536     -- frame height or width
M.MAX_FRAMES = 65536
M.MAX_TOKENS = 65536     -- text tokens

local kind_schema = S.record({
  broadcast = S.bool(), threshold = S.list(S.num { max = 1e6 }, { len = 2 }), range = S.int { min = 1, max = 1000 },
}, { required = { "broadcast", "threshold", "range" } })

local mlp_entry = S.record({
  key = S.int { min = 0, max = 1000000 }, blocks = S.list(S.int { min = 0, max = M.MAX_DEPTH - 1 }),
  skip_count = S.int { min = 0, max = M.MAX_STEPS },
}, { required = { "key", "blocks", "skip_count" } })

-- An MLP dict: ordered entries (upstream's first-match follows dict order), keys unique.
local function mlp_dict(v, path, fail)
  S.list(mlp_entry, { max_len = 1000 })(v, path, fail)
  local seen = {}
  for i, e in ipairs(v) do
    if seen[e.key] then
      local p = { table.unpack(path) }
      p[#p + 1] = i
      fail(p, string.format("key %d appears twice (a Python dict holds each key once)", e.key))
    end
    seen[e.key] = true
  end
end

local pab_schema = S.record({
  spatial = kind_schema, temporal = kind_schema, cross = kind_schema,
  mlp_broadcast = S.bool(), mlp_spatial = mlp_dict, mlp_temporal = mlp_dict,
}, { required = { "spatial", "temporal", "cross", "mlp_broadcast" } })

-- One record for every sampler; each sampler's bake() checks the fields it reads.
local sampler_schema = S.record({
  kind = S.str { enum = { "rflow", "ddim", "pndm" } },
  steps = S.int { min = 1, max = M.MAX_STEPS },
  cfg_scale = S.num { max = 1000 },
  cfg_order = S.str { enum = { "cond_first", "uncond_first" } },
  -- rflow
  num_timesteps = S.int { min = 1, max = 100000 }, use_timestep_transform = S.bool(),
  transform_scale = S.num { gt = 0, max = 1e6 },
  -- ddim, pndm (diffusers scheduler config names)
  num_train_timesteps = S.int { min = 2, max = 100000 }, beta_start = S.num { gt = 0, lt = 1 },
  beta_end = S.num { gt = 0, lt = 1 }, beta_schedule = S.str(), timestep_spacing = S.str(),
  steps_offset = S.int { min = 0, max = 1000 }, set_alpha_to_one = S.bool(), eta = S.num { min = 0, max = 100 },
  skip_prk_steps = S.bool(),
}, { required = { "kind", "steps", "cfg_scale", "cfg_order" } })

-- The fields each sampler's bake() reads (the record above has every sampler's fields).
local DDPM = { "num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "timestep_spacing", "steps_offset" }
local SAMPLER_FIELDS = {
  rflow = { "num_timesteps", "use_timestep_transform" },
  ddim = { "set_alpha_to_one", table.unpack(DDPM) },
  pndm = { "set_alpha_to_one", "skip_prk_steps", table.unpack(DDPM) },
}

local name_str = S.str { name = true } -- module, weight and family names: they reach generated C

local dtype_schema = S.str { enum = { "fp32", "bf16", "fp16" } }

local variant_fields = {
  height = S.int { min = 1, max = M.MAX_PIXELS }, width = S.int { min = 1, max = M.MAX_PIXELS },
  num_frames = S.int { min = 1, max = M.MAX_FRAMES },
  latent = S.list(S.int { min = 1, max = M.MAX_PIXELS }, { len = 3 }),
  fps = S.num { gt = 0, max = 1000 },
  dtype = dtype_schema,
  pab = pab_schema,
  steps = S.int { min = 1, max = M.MAX_STEPS },
  cfg_scale = S.num { max = 1000 },
  batch = S.int { min = 1, max = 1024 },
  text_len = S.int { min = 1, max = M.MAX_TOKENS },
  sp = S.int { min = 1, max = 1024 }, -- sequence-parallel degree (ranks)
  cfg_parallel = S.bool(),            -- split the CFG batch over 2 x sp ranks
}

local function variant_schema(cls)
  local fields = util.copy(variant_fields)
  fields.config = S.record(cls.config_fields)
  return S.record(fields, { required = { "height", "width", "num_frames" } })
end

local layer_schemas = {
  -- q/k/v projections: fused `qkv` (rows [q | k | v]) or separate `q`, `k`, `v`
  self_attention = S.record({
    layer = name_str, name = name_str, pab = S.str { enum = { "attn" } }, norm_eps = S.num { gt = 0, lt = 1 },
    mod = S.list(S.int { min = 0, max = 5 }, { len = 3 }), qkv = name_str, q = name_str, k = name_str, v = name_str,
    q_norm = name_str, k_norm = name_str, qk_norm_eps = S.num { gt = 0, lt = 1 }, proj = name_str,
  }, { required = { "layer", "name", "pab", "norm_eps", "mod", "proj" } }),
  -- k/v projections: fused `kv` (rows [k | v]) or separate `k`, `v`
  cross_attention = S.record({
    layer = name_str, name = name_str, pab = S.str { enum = { "cross" } }, q = name_str, kv = name_str, k = name_str,
    v = name_str, proj = name_str,
  }, { required = { "layer", "name", "pab", "q", "proj" } }),
  mlp = S.record({
    layer = name_str, name = name_str, pab = S.str { enum = { "mlp" } }, norm_eps = S.num { gt = 0, lt = 1 },
    mod = S.list(S.int { min = 0, max = 5 }, { len = 3 }), fc1 = name_str, fc2 = name_str,
    act = S.str { enum = { "gelu_tanh" } },
  }, { required = { "layer", "name", "pab", "norm_eps", "mod", "fc1", "fc2", "act" } }),
}

local function layers_schema(v, path, fail)
  S.list(function(e, p, f)
    if type(e) ~= "table" then f(p, "must be a table") end
    local schema = layer_schemas[e.layer]
    if not schema then
      local p2 = { table.unpack(p) }
      p2[#p2 + 1] = "layer"
      f(p2, string.format("unknown layer %s (known: cross_attention, mlp, self_attention)", S.describe(e.layer)))
    end
    schema(e, p, f)
    local projections = e.layer == "self_attention" and { "qkv", { "q", "k", "v" } }
        or e.layer == "cross_attention" and { "kv", { "k", "v" } }
    if projections and not e[projections[1]] == not e[projections[2][1]] then
      f(p, string.format("give either '%s' or '%s' (fused or separate projections)", projections[1],
        table.concat(projections[2], "', '")))
    end
    for _, name in ipairs(projections and projections[2] or {}) do
      if not e[projections[1]] and not e[name] then f(p, "missing projection '" .. name .. "'") end
    end
  end, { min_len = 1, max_len = 16 })(v, path, fail)
end

local blocks_schema = S.list(S.record({
  prefix = name_str, axis = S.str { enum = { "spatial", "temporal" } },
  pab = S.str { enum = { "spatial", "temporal" } }, rope = S.bool(), layers = layers_schema,
}, { required = { "prefix", "axis", "pab", "rope", "layers" } }), { min_len = 1, max_len = 16 })

local vae_schema = S.record({
  spatial = S.int { min = 1, max = 64 }, temporal = S.str { enum = { "none", "opensora", "causal4" } },
}, { required = { "spatial", "temporal" } })

-- A network's description: its config, its variants (the class's own fields plus config
-- overrides) and an optional dtype; nothing of a denoiser.
local function network_variant_schema(cls)
  local fields = util.copy(cls.variant_fields)
  fields.config = S.record(cls.config_fields)
  return S.record(fields, { required = cls.variant_required })
end

local function network_schema(cls)
  return S.record({
    family = name_str, class = S.str { enum = class_names }, symbol = name_str,
    config = S.record(cls.config_fields, { required = cls.config_required }), dtype = dtype_schema,
    variants = S.map(network_variant_schema(cls)),
  }, { required = { "family", "class", "symbol", "config", "variants" } })
end

local function family_schema(cls)
  if cls.kind == "network" then return network_schema(cls) end
  local config_required = {}
  for _, k in ipairs(cls.config_required) do config_required[#config_required + 1] = k end
  return S.record({
    family = name_str, class = S.str { enum = class_names }, symbol = name_str,
    config = S.record(cls.config_fields, { required = config_required }),
    blocks = blocks_schema, sampler = sampler_schema, dtype = dtype_schema, fps = S.num { gt = 0, max = 1000 },
    vae = vae_schema, text_len = S.int { min = 1, max = M.MAX_TOKENS }, temporal_pos = S.str { enum = { "none", "latte", "osp" } },
    extra_weights = S.list(S.record({ name = name_str, shape = S.list(function(x, p, f)
      if type(x) == "string" then return end
      S.int { min = 1, max = 1 << 32 }(x, p, f)
    end, { min_len = 1, max_len = 6 }) }, { required = { "name", "shape" } })),
    pab = pab_schema, variants = S.map(variant_schema(cls)),
  }, { required = { "family", "class", "symbol", "config", "blocks", "sampler", "dtype", "pab", "variants", "vae" } })
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
  if cls.kind == "denoiser" then M.check_denoiser(fam, cls, fail) end
  return fam
end

-- What a denoiser's description must also hold together: its sampler's fields, unique block
-- and layer names, extra weights shaped by config fields.
function M.check_denoiser(fam, cls, fail)
  local needs = { table.unpack(SAMPLER_FIELDS[fam.sampler.kind]) }
  if fam.sampler.kind == "rflow" and fam.sampler.use_timestep_transform then needs[#needs + 1] = "transform_scale" end
  for _, k in ipairs(needs) do
    if fam.sampler[k] == nil then fail({ "sampler" }, string.format("a %s sampler needs '%s'", fam.sampler.kind, k)) end
  end
  for b, blk in ipairs(fam.blocks) do -- names are unique: they become buffer and weight names
    local seen = {}
    for b2 = 1, b - 1 do
      if fam.blocks[b2].prefix == blk.prefix then fail({ "blocks", b, "prefix" }, "appears twice") end
    end
    for l, layer in ipairs(blk.layers) do
      if seen[layer.name] then fail({ "blocks", b, "layers", l, "name" }, string.format("%s appears twice in "
        .. "the block", S.describe(layer.name))) end
      seen[layer.name] = true
    end
  end
  for i, w in ipairs(fam.extra_weights or {}) do
    for j, x in ipairs(w.shape) do
      if type(x) == "string" and not cls.config_fields[x] then
        fail({ "extra_weights", i, "shape", j }, string.format("%s is not a %s config field", S.describe(x), fam.class))
      end
    end
  end
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
  local known = util.sorted_keys(cls.config_fields)
  for _, k in ipairs(json.keys(obj)) do
    local v = obj[k]
    if v == json.null then v = nil end
    if cls.config_fields[k] then
      if v ~= nil then
        cls.config_fields[k](v, { k }, function(_, msg) fail(k, msg) end)
        config[k], lines[k] = v, json.line(obj, k)
      end
    elseif cls.config_json_ignored[k] then
      util.note("%s:%d: %s ignored (does not affect inference)", path, json.line(obj, k), k)
    elseif not cls.config_json_metadata[k] and not k:match("^_") then
      local near = util.closest(k, known)
      fail(k, "unknown config.json field (not a " .. fam.class .. " setting ditc knows"
        .. (near and ("; did you mean '" .. near .. "'?") or "") .. ")")
    end
  end
  if cls.check_config then cls.check_config(config, fail) end
  return config, lines
end

-- ---- variant resolution ------------------------------------------------------------------------

-- The VAE's latent size for a pixel size (docs/upstream.md#latent-sizes).
local function vae_latent(vae, height, width, frames)
  local t = frames
  if vae.temporal == "opensora" then -- 17-frame micro-batches of 5 latent frames
    t = 5 * (frames // 17)
    if frames % 17 > 0 then t = t + (frames % 17 + 3) // 4 end
  elseif vae.temporal == "causal4" then -- causal first frame, then 4x
    t = (frames - 1 + 3) // 4 + 1
  end
  return { t, height // vae.spatial, width // vae.spatial }
end

-- Resolves a variant. `spec` is either a named variant's table or one assembled from a
-- config.json and command-line sizes; `where(path)` names its source lines.
function M.resolve(fam, name, spec, where, source)
  local function fail(p, msg)
    util.fail(where(p), "%s: %s", #p > 0 and S.path_str(p) or ("variant " .. S.path_str({ name })), msg)
  end
  if fam.cls.kind == "network" then return M.resolve_network(fam, name, spec, fail, source) end
  variant_schema(fam.cls)(spec, {}, fail)
  local v = {
    family = fam.family, class = fam.class, kind = "denoiser", name = name, source = source, fam = fam,
    config = util.merge(fam.config, spec.config or {}),
    blocks = fam.blocks,
    sampler = util.copy(fam.sampler),
    dtype = spec.dtype or fam.dtype,
    pab = util.copy(spec.pab or fam.pab),
    height = spec.height, width = spec.width, num_frames = spec.num_frames,
    batch = spec.batch or 1,
    sp = spec.sp or 1,
    cfg_parallel = spec.cfg_parallel or false,
    text_len = spec.text_len or fam.text_len,
    temporal_pos = fam.temporal_pos or "none",
    extra_weights = fam.extra_weights or {},
  }
  if not name:match("^[a-z0-9][a-z0-9._-]*$") then fail({}, "the name must be lower-case [a-z0-9._-]") end
  v.symbol = fam.symbol .. "_" .. util.ident(name)
  v.sampler.steps = spec.steps or v.sampler.steps
  v.sampler.cfg_scale = spec.cfg_scale or v.sampler.cfg_scale
  v.fps = spec.fps or (spec.num_frames == 1 and 120 or fam.fps)
  v.latent = spec.latent or vae_latent(fam.vae, spec.height, spec.width, spec.num_frames)
  for i, n in ipairs(v.latent) do
    if n < 1 then fail({ "latent" }, string.format("latent dimension %d is %d (frames/size too small)", i, n)) end
  end
  if fam.cls.check_config then
    fam.cls.check_config(v.config, function(k, msg) fail({ "config", k }, msg) end)
  end
  v.dims = fam.cls.dims(v, fail)
  v.fail_size = function(msg) fail({}, msg) end -- a derived size past the caps (program.lua, bake.lua)
  -- an error of the PAB config that shows when its table is baked (bake.lua)
  local pab_where = spec.pab and where({ "pab" }) or fam.where({ "pab" })
  v.fail_pab = function(msg) util.fail(pab_where, "pab: %s", msg) end
  return v
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

-- A named variant; over (optional): { sp = P, pab = "off", name = NAME } derives a variant from
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
    if not over.name then
      util.fail(nil, "--sp, --pab, --cfg-parallel or --pipeline-dtype with --variant needs --name for the derived variant")
    end
    spec = util.copy(spec)
    spec.sp = over.sp or spec.sp
    spec.dtype = over.dtype or spec.dtype
    if over.cfg_parallel then spec.cfg_parallel = true end
    if over.pab == "off" then spec.pab = M.pab_off(spec.pab or fam.pab)
    elseif over.pab then spec.pab = M.pab_from_json(over.pab) end
    local derived = function(p)
      if p[1] == "pab" and over.pab and over.pab ~= "off" then return over.pab end
      if p[1] == "sp" or (p[1] == "dtype" and over.dtype) then
        return "command line: --" .. (p[1] == "sp" and "sp" or "pipeline-dtype")
      end
      return where(p)
    end
    return M.resolve(fam, over.name, spec, derived, { model = fam.path, variant = name })
  end
  return M.resolve(fam, name, spec, where, { model = fam.path, variant = name })
end

-- A PAB config from a JSON file in upstream's PABConfig field names (videosys pab_mgr.py:
-- spatial_broadcast, spatial_threshold, spatial_range, ..., mlp_broadcast,
-- mlp_spatial_broadcast_config = {"676": {"block": [...], "skip_count": 2}, ...}), so a config
-- tuned against VideoSys, or one from the fixtures' meta.json, can be baked as it is. Dict order
-- is kept (upstream's first match follows it). Errors name file:line.
function M.pab_from_json(path)
  local text = util.read_file(path)
  local obj, err = json.decode(text, path)
  if not obj then util.fail(nil, "%s", err) end
  local function fail(o, key, msg)
    util.fail(path .. ":" .. (json.line(o, key) or 1), "%s: %s", S.path_str({ key }), msg)
  end
  if not json.is_object(obj) then util.fail(path .. ":1", "a PAB config must be a JSON object") end
  local known = { steps = true, mlp_broadcast = true, -- steps: set by the pipeline, not a config choice
    mlp_spatial_broadcast_config = true, mlp_temporal_broadcast_config = true }
  for _, kind in ipairs({ "spatial", "temporal", "cross" }) do
    for _, f in ipairs({ "_broadcast", "_threshold", "_range" }) do known[kind .. f] = true end
  end
  -- unknown keys first: a misspelt key is reported at its line, not as the field it misses
  for _, key in ipairs(json.keys(obj)) do
    if not known[key] then
      local near = util.closest(key, util.sorted_keys(known))
      fail(obj, key, "unknown PABConfig field" .. (near and (" (did you mean '" .. near .. "'?)") or ""))
    end
  end
  local pab = { mlp_spatial = {}, mlp_temporal = {} }
  for _, kind in ipairs({ "spatial", "temporal", "cross" }) do
    pab[kind] = { broadcast = obj[kind .. "_broadcast"], threshold = obj[kind .. "_threshold"], range = obj[kind .. "_range"] }
    for _, f in ipairs({ "_broadcast", "_threshold", "_range" }) do
      if obj[kind .. f] == nil or obj[kind .. f] == json.null then
        util.fail(path, "%s: missing (a PABConfig needs every kind's _broadcast, _threshold and _range)", kind .. f)
      end
    end
  end
  pab.mlp_broadcast = obj.mlp_broadcast
  local entry_at = { mlp_spatial = {}, mlp_temporal = {} } -- entry index -> { dict, key, entry object }
  for _, kind in ipairs({ "spatial", "temporal" }) do
    local name = "mlp_" .. kind .. "_broadcast_config"
    local dict = obj[name]
    if dict ~= nil and dict ~= json.null then
      if not json.is_object(dict) then fail(obj, name, "must be an object {timestep: {block, skip_count}}") end
      for _, key in ipairs(json.keys(dict)) do
        local e, k = dict[key], math.tointeger(tonumber(key))
        if not k then fail(dict, key, "keys must be integer timesteps") end
        if not json.is_object(e) then fail(dict, key, "must be an object {block, skip_count}") end
        for _, f in ipairs(json.keys(e)) do
          if f ~= "block" and f ~= "skip_count" then
            fail(e, f, "unknown field of an MLP entry (known: block, skip_count)")
          end
        end
        local list = pab["mlp_" .. kind]
        list[#list + 1] = { key = k, blocks = e.block, skip_count = e.skip_count }
        entry_at["mlp_" .. kind][#list] = { dict = dict, key = key, e = e }
      end
    end
  end
  pab_schema(pab, {}, function(p, msg)
    local at = p[1] and entry_at[p[1]] and p[2] and entry_at[p[1]][p[2]]
    if at then -- inside an MLP entry: the line of its field, else of its key
      local field = p[3] == "blocks" and "block" or p[3]
      local line = field and json.line(at.e, field) or json.line(at.dict, at.key)
      util.fail(path .. ":" .. line, "%s: %s", S.path_str(p), msg)
    end
    local key = p[1] and (p[1]:match("^mlp_") and (p[1] .. "_broadcast_config") or (p[1] .. "_" .. (p[2] or "broadcast")))
    util.fail(path .. ":" .. (json.line(obj, key) or 1), "%s: %s", S.path_str(p), msg)
  end)
  return pab
end

-- A PAB config with every kind off (the all-compute baseline).
function M.pab_off(pab)
  return util.merge(pab, {
    spatial = { broadcast = false }, temporal = { broadcast = false }, cross = { broadcast = false },
    mlp_broadcast = false,
  })
end

-- A variant from a config.json plus command-line settings (opts: height, width, num_frames,
-- latent, steps, cfg_scale, fps, dtype, pab ("default" | "off"), name).
function M.from_config_json(fam, config_path, opts)
  local config, lines = M.import_config_json(fam, config_path)
  local spec = {
    config = config,
    height = opts.height, width = opts.width, num_frames = opts.num_frames,
    latent = opts.latent, steps = opts.steps, cfg_scale = opts.cfg_scale, fps = opts.fps,
    dtype = opts.dtype, text_len = opts.text_len, sp = opts.sp, cfg_parallel = opts.cfg_parallel,
  }
  if opts.pab == "off" then spec.pab = M.pab_off(fam.pab)
  elseif opts.pab and opts.pab ~= "default" then spec.pab = M.pab_from_json(opts.pab) end
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
