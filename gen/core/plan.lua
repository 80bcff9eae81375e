-- plan.lua: the static memory plan. One arena, three parts:
--   persistent: io buffers and what more than one phase touches (a denoiser: the prologue's
--               results the steps read), live for the whole run;
--   caches:     PAB cache slots, live from their first WRITE step to their last REUSE step,
--               packed greedily so slots with disjoint step ranges share bytes;
--   transient:  activations, live from their first to their last op within a phase; phases
--               (the program's list) never run at the same time and share this part.
-- Offsets are bytes, 256-byte aligned: cuBLASLt's heuristics assume 256-byte aligned operands
-- unless told otherwise, and a device arena starts 256-byte aligned. check() is the overlap
-- checker the tests run.
-- Not here: what the buffers mean (program.lua) or how they are addressed (emit.lua).
local M = {}

local ALIGN = 256
M.ALIGN = ALIGN
local function align(n) return ((n + ALIGN - 1) // ALIGN) * ALIGN end

-- items: { size, first, last, name }; places each at the lowest offset that does not collide
-- with an already-placed item whose [first, last] intersects. Largest first; ties by name.
local function greedy(items, base)
  table.sort(items, function(a, b)
    if a.size ~= b.size then return a.size > b.size end
    if a.first ~= b.first then return a.first < b.first end
    return a.name < b.name
  end)
  local placed, top = {}, base
  for _, it in ipairs(items) do
    local busy = {}
    for _, p in ipairs(placed) do
      if p.first <= it.last and it.first <= p.last then busy[#busy + 1] = p end
    end
    table.sort(busy, function(a, b) return a.offset < b.offset end)
    local off = base
    for _, p in ipairs(busy) do
      if off + it.size <= p.offset then break end
      off = math.max(off, align(p.offset + p.size))
    end
    it.offset = off
    placed[#placed + 1] = it
    top = math.max(top, align(off + it.size))
  end
  return top
end

-- P: program; pab: pab tables (slots per module), or nil (no caches). Returns the plan.
function M.build(P, pab)
  local plan = { buffers = {}, slots = {}, order = {} }
  local touch = {}
  for _, phase in ipairs(P.phases) do
    for i, op in ipairs(P:linear_ops(phase)) do
      for _, list in ipairs({ op.reads, op.writes }) do
        for _, name in ipairs(list) do
          local t = touch[name] or {}
          touch[name] = t
          t[phase] = t[phase] or { first = i, last = i }
          t[phase].first = math.min(t[phase].first, i)
          t[phase].last = math.max(t[phase].last, i)
        end
      end
    end
  end

  -- persistent part
  local off = 0
  local persist, trans = {}, {}
  for _, phase in ipairs(P.phases) do trans[phase] = {} end
  for _, b in ipairs(P.buffer_list) do
    local t, phase, n = touch[b.name] or {}, nil, 0
    for _, ph in ipairs(P.phases) do -- the first phase that touches it, and how many do
      if t[ph] then phase, n = phase or ph, n + 1 end
    end
    if b.kind == "io" or b.kind == "device" or n > 1 then -- what the runtime or a later phase reads
      b.region = "persistent"
      persist[#persist + 1] = b
    elseif n == 1 then
      b.region = "transient"
      b.phase, b.first, b.last = phase, t[phase].first, t[phase].last
      trans[phase][#trans[phase] + 1] = { size = b.bytes, first = b.first, last = b.last, name = b.name, buf = b }
    else
      error("plan: buffer " .. b.name .. " is never used")
    end
  end
  for _, b in ipairs(persist) do
    b.offset = off
    off = align(off + b.bytes)
  end
  plan.persistent_bytes = off

  -- PAB cache slots
  local items = {}
  local slot_bytes = P.cache_bytes
  for m, slots in ipairs(pab and pab.slots or {}) do
    for k, s in ipairs(slots) do
      items[#items + 1] = { size = slot_bytes, first = s.first, last = s.last, name = s.name, slot = s, module = m, index = k }
    end
  end
  local cache_top = greedy(items, off)
  for _, it in ipairs(items) do it.slot.offset = it.offset; it.slot.bytes = it.size end
  plan.cache_bytes = cache_top - off
  plan.slot_items = items

  -- transient part (every phase from the same base: phases never run at the same time)
  local top = cache_top
  for _, phase in ipairs(P.phases) do
    local t = greedy(trans[phase], cache_top)
    for _, it in ipairs(trans[phase]) do it.buf.offset = it.offset end
    top = math.max(top, t)
  end
  plan.transient_bytes = top - cache_top
  plan.arena_bytes = top
  plan.transient = trans
  return plan
end

-- Overlap checker: no two buffers/slots that can be live at the same time share a byte.
-- Returns nil or a message naming the pair.
function M.check(P, plan)
  local function clash(a, b) return a.offset < b.offset + b.bytes and b.offset < a.offset + a.bytes end
  local all = {}
  for _, b in ipairs(P.buffer_list) do
    if b.offset % ALIGN ~= 0 then return b.name .. " is not aligned to " .. ALIGN .. " bytes" end
    if b.offset + b.bytes > plan.arena_bytes then return b.name .. " runs past the arena" end
    all[#all + 1] = b
  end
  for _, it in ipairs(plan.slot_items) do
    if it.offset % ALIGN ~= 0 then return it.name .. " is not aligned to " .. ALIGN .. " bytes" end
    all[#all + 1] = { name = it.name, offset = it.offset, bytes = it.size, region = "cache", first = it.first, last = it.last }
  end
  local function live_together(a, b)
    if a.region == "persistent" or b.region == "persistent" then return true end
    if a.region ~= b.region then return a.region == "cache" or b.region == "cache" end
    if a.region == "cache" then return a.first <= b.last and b.first <= a.last end
    if a.phase ~= b.phase then return false end
    return a.first <= b.last and b.first <= a.last
  end
  for i = 1, #all do
    for j = i + 1, #all do
      local a, b = all[i], all[j]
      if live_together(a, b) and clash(a, b) then
        return string.format("%s [%d, %d) and %s [%d, %d) overlap while both are live",
          a.name, a.offset, a.offset + a.bytes, b.name, b.offset, b.offset + b.bytes)
      end
    end
  end
  return nil
end

return M
