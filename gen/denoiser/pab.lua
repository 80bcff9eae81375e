-- pab.lua: bakes Pyramid Attention Broadcast into static per-step tables, with upstream's exact
-- rule (videosys pab_mgr.py; docs/upstream.md#pab): per-module counters aligned to the
-- global step and wrapping at `steps`, strict thresholds on int(timestep), MLP broadcast keyed
-- by timestep values with first-match dict order. Produces both upstream's decisions (for trace
-- comparison) and the executable ops: COMPUTE, WRITE (compute and keep: a later call reuses it)
-- and REUSE, each with its cache slot. The attention cache kinds are the family's own
-- (`cache_kinds`, describe_denoiser.lua): a module's kind names its config record; MLP broadcast
-- is keyed by block kind (temporal, or spatial for any other) as upstream does. Not here: memory
-- offsets (plan.lua).
local M = {}

M.COMPUTE, M.WRITE, M.REUSE = 0, 1, 2

local function contains(list, x)
  for _, v in ipairs(list) do if v == x then return true end end
  return false
end

-- PAB is active iff one of the attention kinds broadcasts (enable_pab()). A config's records
-- beside its mlp_ fields are exactly the family's cache kinds (its schema requires each and
-- refuses any other), so those are the kinds looked at.
function M.active(cfg)
  for k, c in pairs(cfg) do
    if not k:match("^mlp") and c.broadcast then return true end
  end
  return false
end

-- Upstream's _is_t_in_skip_config for every call at once: the first entry (list order) whose value
-- range all[idx(key) .. idx(key)+skip] contains tau, and the last value of that range (or the
-- error upstream raises), per call i; computed once per dict, not per module.
local function mlp_hits(entries, all)
  local first = {}
  for j = #all, 1, -1 do first[all[j]] = j end
  local ranges = {}
  for _, e in ipairs(entries) do
    local idx = first[e.key]
    if idx then
      local values = {}
      for j = idx, math.min(idx + e.skip_count, #all) do values[all[j]] = true end
      ranges[#ranges + 1] = { e = e, values = values, last = idx + e.skip_count }
    end
  end
  local hits = {}
  for i, tau in ipairs(all) do
    for _, r in ipairs(ranges) do
      if r.values[tau] then
        hits[i] = { e = r.e, last_value = all[r.last] }
        if r.last > #all then -- raised when a module asks, as upstream does
          hits[i].err = string.format("MLP key %d with skip_count %d runs past the end of the %d-step schedule "
            .. "(upstream raises IndexError here)", r.e.key, r.e.skip_count, #all)
        end
        break
      end
    end
  end
  return hits
end

-- cfg: the variant's PAB config; all: int timesteps of the run (tau per call); modules: list of
-- { name, kind = one of the family's cache kinds or "mlp", block_idx, block_kind (the block's
-- cache kind) }; steps: the counter modulus upstream uses (num_inference_steps); fail(msg):
-- raises a user error.
function M.bake(cfg, all, modules, steps, fail)
  local K, nmod = #all, #modules
  local on = M.active(cfg)
  local t = { on = on, K = K, decision = {}, mlp_src = {}, op = {}, slots = {} }
  for i = 1, K do t.decision[i], t.mlp_src[i], t.op[i] = {}, {}, {} end

  -- 1. upstream's decisions
  local stores = { spatial = {}, temporal = {} } -- MLP stores keyed "key/block" -> saving step
  local hits, own_of = {}, {}
  for _, kind in ipairs({ "spatial", "temporal" }) do
    local entries = cfg["mlp_" .. kind] or {}
    hits[kind], own_of[kind] = mlp_hits(entries, all), {}
    for _, e in ipairs(entries) do own_of[kind][e.key] = own_of[kind][e.key] or e end
  end
  for i = 1, K do
    local tau, count = all[i], (i - 1) % steps   -- every module's counter: one call per step
    for m, mod in ipairs(modules) do
      local d = "compute"
      if on and mod.kind ~= "mlp" then
        local k = cfg[mod.kind]
        if k.broadcast and count % k.range ~= 0 and k.threshold[1] < tau and tau < k.threshold[2] then
          d = "broadcast"
        end
      elseif on and cfg.mlp_broadcast then
        local bk = mod.block_kind == "temporal" and "temporal" or "spatial"
        local h = hits[bk][i]
        if h and h.err then fail(h.err) end
        local hit, last_value = h and h.e, h and h.last_value
        local own = own_of[bk][tau]
        local store = stores[bk]
        if own and contains(own.blocks, mod.block_idx) then
          d = "compute+save"
          store[tau .. "/" .. mod.block_idx] = i
        elseif hit and contains(hit.blocks, mod.block_idx) then
          local id = hit.key .. "/" .. mod.block_idx
          if not store[id] then
            fail(string.format("step %d: %s reuses the MLP output of timestep %d, which is not stored "
              .. "(upstream raises ValueError here)", i - 1, mod.name, hit.key))
          end
          d = "broadcast"
          t.mlp_src[i][m] = { key = hit.key, step = store[id] }
          if tau == last_value then store[id] = nil end
        end
      end
      t.decision[i][m] = d
    end
  end

  -- 2. executable ops and cache slots
  local slot_index = {} -- per module: slot id -> index
  for m = 1, nmod do slot_index[m] = {}; t.slots[m] = {} end
  local function slot(m, id, suffix)
    if not slot_index[m][id] then
      local s = { name = modules[m].name .. ".pab" .. suffix, first = nil, last = nil }
      t.slots[m][#t.slots[m] + 1] = s
      slot_index[m][id] = #t.slots[m]
    end
    return slot_index[m][id]
  end
  for i = 1, K do for m = 1, nmod do t.op[i][m] = { op = M.COMPUTE } end end
  for i = 1, K do
    for m, mod in ipairs(modules) do
      if t.decision[i][m] == "broadcast" then
        local src, id, suffix
        if mod.kind == "mlp" then
          src, id, suffix = t.mlp_src[i][m].step, "key" .. t.mlp_src[i][m].key, "@" .. t.mlp_src[i][m].key
        else
          src = i - 1
          while src >= 1 and t.decision[src][m] == "broadcast" do src = src - 1 end
          if src < 1 then fail(string.format("step %d: %s reuses before any compute", i - 1, mod.name)) end
          id, suffix = "attn", ""
        end
        local k = slot(m, id, suffix)
        t.op[i][m] = { op = M.REUSE, slot = k }
        t.op[src][m] = { op = M.WRITE, slot = k }
        local s = t.slots[m][k]
        s.first = math.min(s.first or src, src)
        s.last = math.max(s.last or i, i)
      end
    end
  end

  -- 3. invariants: every REUSE reads a slot last written by an earlier WRITE of the same slot
  for m = 1, nmod do
    local written = {}
    for i = 1, K do
      local o = t.op[i][m]
      if o.op == M.WRITE then written[o.slot] = true end
      if o.op == M.REUSE and not written[o.slot] then
        error(string.format("pab: internal: %s reuses slot %d at step %d before a write", modules[m].name, o.slot, i - 1))
      end
    end
  end

  -- 4. distinct rows: pattern[i] numbers the steps' rows in order of first appearance (0-based;
  -- the CUDA backend captures one graph per pattern and replays it)
  t.pattern, t.n_patterns = {}, 0
  local seen = {}
  for i = 1, K do
    local cells = {}
    for m = 1, nmod do cells[m] = M.cell(t.op[i][m]) end
    local key = table.concat(cells, ",")
    if not seen[key] then seen[key], t.n_patterns = t.n_patterns, t.n_patterns + 1 end
    t.pattern[i] = seen[key]
  end
  return t
end

-- The table cell of one op: DITC_PAB_* in the low 2 bits, the cache slot index above them.
function M.cell(o) return o.op + ((o.slot or 1) - 1) * 4 end

-- Counts per kind of what upstream reused, and of what ditc computes/writes/reuses.
function M.summary(t, modules)
  local s = {}
  for m, mod in ipairs(modules) do
    local key = mod.kind == "mlp" and "mlp" or mod.kind
    s[key] = s[key] or { calls = 0, reuse = 0, write = 0, save = 0 }
    for i = 1, t.K do
      local e = s[key]
      e.calls = e.calls + 1
      if t.op[i][m].op == M.REUSE then e.reuse = e.reuse + 1 end
      if t.op[i][m].op == M.WRITE then e.write = e.write + 1 end
      if t.decision[i][m] == "compute+save" then e.save = e.save + 1 end
    end
  end
  return s
end

return M
