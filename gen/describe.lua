-- describe.lua: loads a model description (models/*.lua), validates it against the schema and
-- resolves one variant (named, or defined by an upstream config.json plus sizes) into the flat
-- table every later stage reads. Errors are `file:line: message`.
-- Not here: timesteps, PAB tables or the op program.
local S = require("schema")
local util = require("util")
local json = require("json")

local M = {}

-- ---- schema ------------------------------------------------------------------------------------

local config_fields = {
  depth = S.int { min = 1 },
  hidden_size = S.int { min = 4 },
  num_heads = S.int { min = 1 },
  mlp_ratio = S.num { gt = 0 },
  patch_size = S.list(S.int { min = 1 }, { len = 3 }),
  in_channels = S.int { min = 1 },
  pred_sigma = S.bool(),
  caption_channels = S.int { min = 1 },
  model_max_length = S.int { min = 1 },
  qk_norm = S.bool(),
  input_sq_size = S.int { min = 1 },
}
local config_required = {}
for k in pairs(config_fields) do config_required[#config_required + 1] = k end
table.sort(config_required)

local kind_schema = S.record({
  broadcast = S.bool(), threshold = S.list(S.num(), { len = 2 }), range = S.int { min = 1 },
}, { required = { "broadcast", "threshold", "range" } })

local mlp_entry = S.record({
  key = S.int { min = 0 }, blocks = S.list(S.int { min = 0 }), skip_count = S.int { min = 0 },
}, { required = { "key", "blocks", "skip_count" } })

local pab_schema = S.record({
  spatial = kind_schema, temporal = kind_schema, cross = kind_schema,
  mlp_broadcast = S.bool(), mlp_spatial = S.list(mlp_entry), mlp_temporal = S.list(mlp_entry),
}, { required = { "spatial", "temporal", "cross", "mlp_broadcast" } })

local sampler_schema = S.record({
  kind = S.str { enum = { "rflow" } },
  steps = S.int { min = 1 },
  num_timesteps = S.int { min = 1 },
  use_timestep_transform = S.bool(),
  transform_scale = S.num { gt = 0 },
  cfg_scale = S.num(),
  cfg_order = S.str { enum = { "cond_first", "uncond_first" } },
}, { required = { "kind", "steps", "num_timesteps", "cfg_scale", "cfg_order" } })

local dtype_schema = S.str { enum = { "fp32", "bf16" } }

local variant_schema = S.record({
  config = S.record(config_fields),
  height = S.int { min = 1 }, width = S.int { min = 1 }, num_frames = S.int { min = 1 },
  latent = S.list(S.int { min = 1 }, { len = 3 }),
  fps = S.num { gt = 0 },
  dtype = dtype_schema,
  pab = pab_schema,
  steps = S.int { min = 1 },
  cfg_scale = S.num(),
  batch = S.int { min = 1 },
}, { required = { "height", "width", "num_frames" } })

local layer_schemas = {
  -- q/k/v projections: fused `qkv` (rows [q | k | v]) or separate `q`, `k`, `v`
  self_attention = S.record({
    layer = S.str(), name = S.str(), pab = S.str { enum = { "attn" } }, norm_eps = S.num { gt = 0 },
    mod = S.list(S.int { min = 0 }, { len = 3 }), qkv = S.str(), q = S.str(), k = S.str(), v = S.str(),
    q_norm = S.str(), k_norm = S.str(), qk_norm_eps = S.num { gt = 0 }, proj = S.str(),
  }, { required = { "layer", "name", "pab", "norm_eps", "mod", "proj" } }),
  -- k/v projections: fused `kv` (rows [k | v]) or separate `k`, `v`
  cross_attention = S.record({
    layer = S.str(), name = S.str(), pab = S.str { enum = { "cross" } }, q = S.str(), kv = S.str(), k = S.str(),
    v = S.str(), proj = S.str(),
  }, { required = { "layer", "name", "pab", "q", "proj" } }),
  mlp = S.record({
    layer = S.str(), name = S.str(), pab = S.str { enum = { "mlp" } }, norm_eps = S.num { gt = 0 },
    mod = S.list(S.int { min = 0 }, { len = 3 }), fc1 = S.str(), fc2 = S.str(),
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
      f(p2, string.format("unknown layer %q (known: cross_attention, mlp, self_attention)", tostring(e.layer)))
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
  end, { min_len = 1 })(v, path, fail)
end

local blocks_schema = S.list(S.record({
  prefix = S.str(), axis = S.str { enum = { "spatial", "temporal" } },
  pab = S.str { enum = { "spatial", "temporal" } }, rope = S.bool(), layers = layers_schema,
}, { required = { "prefix", "axis", "pab", "rope", "layers" } }), { min_len = 1 })

local family_schema = S.record({
  family = S.str(), class = S.str { enum = { "STDiT3" } }, symbol = S.str(),
  config = S.record(config_fields, { required = config_required }),
  blocks = blocks_schema,
  sampler = sampler_schema, dtype = dtype_schema, fps = S.num { gt = 0 },
  pab = pab_schema, variants = S.map(variant_schema),
}, { required = { "family", "class", "symbol", "config", "blocks", "sampler", "dtype", "fps", "pab", "variants" } })

-- ---- loading -----------------------------------------------------------------------------------

function M.load_family(path)
  local text = util.read_file(path)
  local chunk, err = load(text, "@" .. path, "t", {})
  if not chunk then util.fail(nil, "%s", err) end
  local ok, fam = pcall(chunk)
  if not ok then util.fail(nil, "%s", tostring(fam)) end
  local where = util.srcmap(path, text)
  local function fail(p, msg)
    util.fail(where(p), "%s: %s", S.path_str(p) ~= "" and S.path_str(p) or "description", msg)
  end
  family_schema(fam, {}, fail)
  if not fam.symbol:match("^[a-z][a-z0-9_]*$") then fail({ "symbol" }, "must be a C identifier in lower case") end
  fam.path, fam.where, fam.fail = path, where, fail
  return fam
end

-- Maps an upstream config.json (hpcai-tech/OpenSora-STDiT-v3 format) onto config fields.
local config_json_ignored = {
  input_size = true, class_dropout_prob = true, drop_path = true, enable_flash_attn = true,
  enable_layernorm_kernel = true, only_train_temporal = true, freeze_y_embedder = true,
  torch_dtype = true, transformers_version = true, architectures = true, model_type = true,
  skip_y_embedder = true,
}

function M.import_config_json(fam, path)
  local text = util.read_file(path)
  local obj, err = json.decode(text, path)
  if not obj then util.fail(nil, "%s", err) end
  if type(obj) ~= "table" or #obj > 0 then util.fail(path .. ":1", "config.json must be an object") end
  local function fail(key, msg) util.fail(path .. ":" .. (json.line(obj, key) or 1), "%s: %s", key, msg) end
  local arch = obj.architectures
  if obj.model_type ~= nil and obj.model_type ~= fam.class then
    fail("model_type", string.format("is %q but %s describes class %s", tostring(obj.model_type), fam.path, fam.class))
  end
  if type(arch) == "table" and arch[1] ~= nil and arch[1] ~= fam.class then
    fail("architectures", string.format("is %q but %s describes class %s", tostring(arch[1]), fam.path, fam.class))
  end
  if obj.skip_y_embedder == true then fail("skip_y_embedder", "true is not supported (the caption MLP is part of the model)") end
  local config = {}
  for _, k in ipairs(json.keys(obj)) do
    if config_fields[k] then
      local v = obj[k]
      config_fields[k](v, { k }, function(_, msg) fail(k, msg) end)
      config[k] = v
    elseif not config_json_ignored[k] and not k:match("^_") then
      fail(k, "unknown config.json field (not an STDiT3 setting ditc knows)")
    end
  end
  return config
end

-- ---- variant resolution ------------------------------------------------------------------------

local function vae_latent(height, width, frames)
  local t = 5 * (frames // 17)
  if frames % 17 > 0 then t = t + (frames % 17 + 3) // 4 end
  return { t, height // 8, width // 8 }
end

-- Resolves a variant. `spec` is either a named variant's table or one assembled from a
-- config.json and command-line sizes; `where(path)` names its source lines.
function M.resolve(fam, name, spec, where, source)
  local function fail(p, msg) util.fail(where(p), "%s: %s", S.path_str(p), msg) end
  variant_schema(spec, {}, fail)
  local v = {
    family = fam.family, class = fam.class, name = name, source = source,
    config = util.merge(fam.config, spec.config or {}),
    blocks = fam.blocks,
    sampler = util.copy(fam.sampler),
    dtype = spec.dtype or fam.dtype,
    pab = util.copy(spec.pab or fam.pab),
    height = spec.height, width = spec.width, num_frames = spec.num_frames,
    batch = spec.batch or 1,
  }
  if not name:match("^[a-z0-9][a-z0-9._-]*$") then fail({}, "variant name " .. name .. " must be lower-case [a-z0-9._-]") end
  v.symbol = fam.symbol .. "_" .. util.ident(name)
  v.sampler.steps = spec.steps or v.sampler.steps
  v.sampler.cfg_scale = spec.cfg_scale or v.sampler.cfg_scale
  v.fps = spec.fps or (spec.num_frames == 1 and 120 or fam.fps)
  v.latent = spec.latent or vae_latent(spec.height, spec.width, spec.num_frames)
  for i, n in ipairs(v.latent) do
    if n < 1 then fail({ "latent" }, string.format("latent dimension %d is %d (frames/size too small)", i, n)) end
  end
  local c = v.config
  if c.hidden_size % c.num_heads ~= 0 then
    fail({ "config", "num_heads" }, string.format("hidden_size %d is not divisible by num_heads %d", c.hidden_size, c.num_heads))
  end
  if c.hidden_size % 4 ~= 0 then fail({ "config", "hidden_size" }, "must be divisible by 4 (2-D sin-cos position embedding)") end
  local head_dim = c.hidden_size // c.num_heads
  if head_dim % 2 ~= 0 then fail({ "config", "num_heads" }, "head dim must be even (rotary embedding)") end
  local mlp_hidden = c.hidden_size * c.mlp_ratio
  if mlp_hidden ~= math.floor(mlp_hidden) then fail({ "config", "mlp_ratio" }, "hidden_size * mlp_ratio must be an integer") end
  -- MLP block indices >= depth are allowed: upstream's default lists blocks 0-4 for any depth,
  -- and an index that names no block simply never matches.
  -- dims in the project vocabulary (runtime/README.md)
  local p = c.patch_size
  local d = {
    Bp = v.batch, B = 2 * v.batch, Cin = c.in_channels, Cout = c.pred_sigma and 2 * c.in_channels or c.in_channels,
    Tx = v.latent[1], Hx = v.latent[2], Wx = v.latent[3], pt = p[1], ph = p[2], pw = p[3],
    C = c.hidden_size, H = c.num_heads, D = head_dim, F = math.floor(mlp_hidden),
    L = c.model_max_length, Cc = c.caption_channels, depth = c.depth,
  }
  d.T = (d.Tx + d.pt - 1) // d.pt
  d.Hp = (d.Hx + d.ph - 1) // d.ph
  d.Wp = (d.Wx + d.pw - 1) // d.pw
  d.S = d.Hp * d.Wp
  d.N = d.T * d.S
  d.P = d.pt * d.ph * d.pw * d.Cout -- final layer output features per token
  v.dims = d
  return v
end

function M.named(fam, name)
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
  return M.resolve(fam, name, spec, where, { model = fam.path, variant = name })
end

-- A variant from a config.json plus command-line settings (opts: height, width, num_frames,
-- latent, steps, cfg_scale, fps, dtype, pab ("default" | "off"), name).
function M.from_config_json(fam, config_path, opts)
  local spec = {
    config = M.import_config_json(fam, config_path),
    height = opts.height, width = opts.width, num_frames = opts.num_frames,
    latent = opts.latent, steps = opts.steps, cfg_scale = opts.cfg_scale, fps = opts.fps,
    dtype = opts.dtype,
  }
  if opts.pab == "off" then
    spec.pab = util.merge(fam.pab, {
      spatial = { broadcast = false }, temporal = { broadcast = false }, cross = { broadcast = false },
      mlp_broadcast = false,
    })
  end
  local where = function(p) return "command line: --" .. tostring(p[1] or "") end
  return M.resolve(fam, opts.name, spec, where, { model = fam.path, config = config_path })
end

return M
