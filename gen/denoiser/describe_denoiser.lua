-- describe_denoiser.lua: what a denoiser's description holds besides its graph, and how its
-- variants resolve: its cache kinds and the PAB and block schemas that follow from them, the
-- sampler schema, the VAE's latent sizes, sequence and CFG parallelism, variants derived on the
-- command line, and PAB configs in upstream's JSON.
-- describe.lua dispatches here for a class of kind "denoiser". Not here: loading files, the
-- config.json import, networks (describe.lua); timesteps or tables (the samplers, pab.lua).
local S = require("schema")
local util = require("util")
local json = require("json")

local M = {}

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

-- ---- cache kinds ---------------------------------------------------------------------------------

-- A family declares its attention cache kinds (`cache_kinds`, e.g. { "spatial", "temporal",
-- "cross" }): the kinds its PAB config holds, each with upstream's broadcast/threshold/range and
-- JSON names <kind>_broadcast/_threshold/_range, in the order schedule.txt lists them. A block's
-- `pab` (its self-attention's kind) and a cross-attention layer's `pab` name one of them, and
-- each declared kind must be used by some module (check below), so a family without temporal
-- attention declares none. The list is declared rather than derived from the blocks so that the
-- PAB config's schema and the order of its columns are read in one place, independent of the
-- order blocks run in, and a misspelt block `pab` is an error at its line, not a new kind.
-- "attn" (a self-attention layer's "the block's kind") and "mlp..." (MLP broadcast, keyed by
-- block kind as upstream does, and its config fields) are not kind names.
local function cache_kind(v, path, fail)
  S.str()(v, path, fail)
  if not v:match("^[a-z][a-z0-9_]*$") or #v > 32 then
    fail(path, "must be a lower-case identifier of at most 32 characters, got " .. S.describe(v))
  end
  if v == "attn" or v:match("^mlp") then
    fail(path, string.format("%s is reserved (attn: a self-attention layer's block kind; mlp: MLP broadcast)",
      S.describe(v)))
  end
end

local function cache_kinds_schema(v, path, fail)
  S.list(cache_kind, { min_len = 1, max_len = 8 })(v, path, fail)
  for i, k in ipairs(v) do
    for j = 1, i - 1 do
      if v[j] == k then
        local p = { table.unpack(path) }
        p[#p + 1] = i
        fail(p, string.format("%s appears twice", S.describe(k)))
      end
    end
  end
end

-- The PAB config of a family with these cache kinds: every kind's record, required, and MLP
-- broadcast as upstream has it; a field of another kind is refused naming the declared ones.
local function pab_schema(kinds)
  local fields = { mlp_broadcast = S.bool(), mlp_spatial = mlp_dict, mlp_temporal = mlp_dict }
  local required = {}
  for i, k in ipairs(kinds) do fields[k], required[i] = kind_schema, k end
  required[#required + 1] = "mlp_broadcast"
  local record = S.record(fields, { required = required })
  return function(v, path, fail)
    if type(v) == "table" then
      for _, k in ipairs(util.sorted_keys(v)) do
        if type(k) == "string" and not fields[k] and not k:match("^mlp") then
          local p = { table.unpack(path) }
          p[#p + 1] = k
          local near = util.closest(k, kinds)
          fail(p, string.format("%s is not a cache kind of this family (cache_kinds: %s)%s", S.describe(k),
            table.concat(kinds, ", "), near and ("; did you mean '" .. near .. "'?") or ""))
        end
      end
    end
    record(v, path, fail)
  end
end

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

local variant_fields = {
  height = S.int { min = 1, max = M.MAX_PIXELS }, width = S.int { min = 1, max = M.MAX_PIXELS },
  num_frames = S.int { min = 1, max = M.MAX_FRAMES },
  latent = S.list(S.int { min = 1, max = M.MAX_PIXELS }, { len = 3 }),
  fps = S.num { gt = 0, max = 1000 },
  dtype = S.DTYPE,
  steps = S.int { min = 1, max = M.MAX_STEPS },
  cfg_scale = S.num { max = 1000 },
  batch = S.int { min = 1, max = 1024 },
  text_len = S.int { min = 1, max = M.MAX_TOKENS },
  sp = S.int { min = 1, max = 1024 }, -- sequence-parallel degree (ranks)
  cfg_parallel = S.bool(),            -- split the CFG batch over 2 x sp ranks
}

local function variant_schema(cls, kinds)
  local fields = util.copy(variant_fields)
  fields.config = S.record(cls.config_fields)
  fields.pab = pab_schema(kinds)
  return S.record(fields, { required = { "height", "width", "num_frames" } })
end

-- The layers of a block. A self-attention layer's `pab` is "attn" (the block's kind), a
-- cross-attention layer's one of the family's cache kinds, an MLP's "mlp".
local function layer_schemas(kinds)
  return {
    -- q/k/v projections: fused `qkv` (rows [q | k | v]) or separate `q`, `k`, `v`
    self_attention = S.record({
      layer = S.NAME, name = S.NAME, pab = S.str { enum = { "attn" } }, norm_eps = S.num { gt = 0, lt = 1 },
      mod = S.list(S.int { min = 0, max = 5 }, { len = 3 }), qkv = S.NAME, q = S.NAME, k = S.NAME, v = S.NAME,
      q_norm = S.NAME, k_norm = S.NAME, qk_norm_eps = S.num { gt = 0, lt = 1 }, proj = S.NAME,
    }, { required = { "layer", "name", "pab", "norm_eps", "mod", "proj" } }),
    -- k/v projections: fused `kv` (rows [k | v]) or separate `k`, `v`
    cross_attention = S.record({
      layer = S.NAME, name = S.NAME, pab = S.str { enum = kinds }, q = S.NAME, kv = S.NAME, k = S.NAME,
      v = S.NAME, proj = S.NAME,
    }, { required = { "layer", "name", "pab", "q", "proj" } }),
    mlp = S.record({
      layer = S.NAME, name = S.NAME, pab = S.str { enum = { "mlp" } }, norm_eps = S.num { gt = 0, lt = 1 },
      mod = S.list(S.int { min = 0, max = 5 }, { len = 3 }), fc1 = S.NAME, fc2 = S.NAME,
      act = S.str { enum = { "gelu_tanh" } },
    }, { required = { "layer", "name", "pab", "norm_eps", "mod", "fc1", "fc2", "act" } }),
  }
end

local function layers_schema(kinds)
  local schemas = layer_schemas(kinds)
  return S.list(function(e, p, f)
    if type(e) ~= "table" then f(p, "must be a table") end
    local schema = schemas[e.layer]
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
  end, { min_len = 1, max_len = 16 })
end

-- The blocks of a family with these cache kinds: `axis` is an attention axis dit_layers.lua
-- runs, `pab` the cache kind of the block's self-attention (and the block kind MLP broadcast
-- is keyed by: its temporal dict for a "temporal" block, its spatial dict otherwise).
local function blocks_schema(kinds)
  return S.list(S.record({
    prefix = S.NAME, axis = S.str { enum = { "spatial", "temporal" } },
    pab = S.str { enum = kinds }, rope = S.bool(), layers = layers_schema(kinds),
  }, { required = { "prefix", "axis", "pab", "rope", "layers" } }), { min_len = 1, max_len = 16 })
end

local vae_schema = S.record({
  spatial = S.int { min = 1, max = 64 }, temporal = S.str { enum = { "none", "opensora", "causal4" } },
}, { required = { "spatial", "temporal" } })

-- The schema of a denoiser's description (class_names: every class a description may name). Its
-- cache_kinds are checked first: the PAB config's and the blocks' schemas follow from them.
function M.family_schema(cls, class_names)
  local config_required = {}
  for _, k in ipairs(cls.config_required) do config_required[#config_required + 1] = k end
  local extra_weights = S.list(S.record({ name = S.NAME, shape = S.list(function(x, p, f)
    if type(x) == "string" then return end
    S.int { min = 1, max = 1 << 32 }(x, p, f)
  end, { min_len = 1, max_len = 6 }) }, { required = { "name", "shape" } }))
  return function(fam, path, fail)
    if type(fam) ~= "table" then fail(path, "must be a table, got " .. S.describe(fam)) end
    if fam.cache_kinds == nil then fail(path, "missing required field 'cache_kinds'") end
    local p = { table.unpack(path) }
    p[#p + 1] = "cache_kinds"
    cache_kinds_schema(fam.cache_kinds, p, fail)
    local kinds = fam.cache_kinds
    S.record({
      family = S.NAME, class = S.str { enum = class_names }, symbol = S.NAME,
      config = S.record(cls.config_fields, { required = config_required }),
      cache_kinds = cache_kinds_schema, blocks = blocks_schema(kinds), sampler = sampler_schema, dtype = S.DTYPE,
      fps = S.num { gt = 0, max = 1000 }, vae = vae_schema, text_len = S.int { min = 1, max = M.MAX_TOKENS },
      temporal_pos = S.str { enum = { "none", "latte", "osp" } }, extra_weights = extra_weights,
      pab = pab_schema(kinds), variants = S.map(variant_schema(cls, kinds)),
      pipeline = function(...) return require("pipeline").schema(...) end,
    }, { required = { "family", "class", "symbol", "config", "cache_kinds", "blocks", "sampler", "dtype", "pab",
      "variants", "vae" } })(fam, path, fail)
  end
end

-- What a denoiser's description must also hold together: its sampler's fields, unique block
-- and layer names, every declared cache kind used by a module, extra weights shaped by config
-- fields.
function M.check(fam, cls, fail)
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
  local used = {}
  for _, blk in ipairs(fam.blocks) do
    used[blk.pab] = true
    for _, layer in ipairs(blk.layers) do
      if layer.layer == "cross_attention" then used[layer.pab] = true end
    end
  end
  for i, k in ipairs(fam.cache_kinds) do
    if not used[k] then
      fail({ "cache_kinds", i }, string.format("%s is declared but no block or cross-attention layer has that pab "
        .. "(declare only the kinds the blocks cache)", S.describe(k)))
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

-- Resolves a denoiser's variant (describe.resolve's arguments, and its fail(path, message)).
function M.resolve(fam, name, spec, where, source, fail)
  variant_schema(fam.cls, fam.cache_kinds)(spec, {}, fail)
  local v = {
    family = fam.family, class = fam.class, kind = "denoiser", name = name, source = source, fam = fam,
    config = util.merge(fam.config, spec.config or {}),
    blocks = fam.blocks, cache_kinds = fam.cache_kinds,
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

-- A variant derived from a named one by the command line (over: { sp, pab = "off" | FILE,
-- cfg_parallel, dtype, name }): the new spec and where(path) of its fields.
function M.derive(fam, name, spec, over, where)
  if not over.name then
    util.fail(nil, "--sp, --pab, --cfg-parallel or --pipeline-dtype with --variant needs --name for the derived variant")
  end
  spec = util.copy(spec)
  spec.sp = over.sp or spec.sp
  spec.dtype = over.dtype or spec.dtype
  if over.cfg_parallel then spec.cfg_parallel = true end
  if over.pab == "off" then spec.pab = M.pab_off(spec.pab or fam.pab, fam.cache_kinds)
  elseif over.pab then spec.pab = M.pab_from_json(over.pab, fam.cache_kinds) end
  local derived = function(p)
    if p[1] == "pab" and over.pab and over.pab ~= "off" then return over.pab end
    if p[1] == "sp" or (p[1] == "dtype" and over.dtype) then
      return "command line: --" .. (p[1] == "sp" and "sp" or "pipeline-dtype")
    end
    return where(p)
  end
  return spec, derived
end

-- A PAB config from a JSON file in upstream's PABConfig field names (videosys pab_mgr.py:
-- <kind>_broadcast, <kind>_threshold, <kind>_range for each of the family's cache kinds `kinds`,
-- mlp_broadcast, mlp_spatial_broadcast_config = {"676": {"block": [...], "skip_count": 2}, ...}),
-- so a config tuned against VideoSys, or one from the fixtures' meta.json, can be baked as it is.
-- A field of a kind the family does not declare is an error naming it. Dict order is kept
-- (upstream's first match follows it). Errors name file:line.
function M.pab_from_json(path, kinds)
  local text = util.read_file(path)
  local obj, err = json.decode(text, path)
  if not obj then util.fail(nil, "%s", err) end
  local function fail(o, key, msg)
    util.fail(path .. ":" .. (json.line(o, key) or 1), "%s: %s", S.path_str({ key }), msg)
  end
  if not json.is_object(obj) then util.fail(path .. ":1", "a PAB config must be a JSON object") end
  local known = { steps = true, mlp_broadcast = true, -- steps: set by the pipeline, not a config choice
    mlp_spatial_broadcast_config = true, mlp_temporal_broadcast_config = true }
  for _, kind in ipairs(kinds) do
    for _, f in ipairs({ "_broadcast", "_threshold", "_range" }) do known[kind .. f] = true end
  end
  -- unknown keys first: a misspelt key is reported at its line, not as the field it misses
  for _, key in ipairs(json.keys(obj)) do
    if not known[key] then
      local near = util.closest(key, util.sorted_keys(known))
      local kind = key:match("^(.-)_broadcast$") or key:match("^(.-)_threshold$") or key:match("^(.-)_range$")
      local what = "unknown PABConfig field"
      if kind and kind ~= "" and not kind:match("^mlp") then
        what = string.format("%s is not a cache kind of this family (cache_kinds: %s)", kind, table.concat(kinds, ", "))
      end
      fail(obj, key, what .. (near and (" (did you mean '" .. near .. "'?)") or ""))
    end
  end
  local pab = { mlp_spatial = {}, mlp_temporal = {} }
  for _, kind in ipairs(kinds) do
    pab[kind] = { broadcast = obj[kind .. "_broadcast"], threshold = obj[kind .. "_threshold"], range = obj[kind .. "_range"] }
    for _, f in ipairs({ "_broadcast", "_threshold", "_range" }) do
      if obj[kind .. f] == nil or obj[kind .. f] == json.null then
        util.fail(path, "%s: missing (a PABConfig needs _broadcast, _threshold and _range of every cache kind: %s)",
          kind .. f, table.concat(kinds, ", "))
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
  pab_schema(kinds)(pab, {}, function(p, msg)
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

-- A PAB config with every cache kind of `kinds` off (the all-compute baseline).
function M.pab_off(pab, kinds)
  local off = { mlp_broadcast = false }
  for _, k in ipairs(kinds) do off[k] = { broadcast = false } end
  return util.merge(pab, off)
end


return M
