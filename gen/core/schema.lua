-- schema.lua: a small validator for description data. Each schema is a function
-- check(value, path, fail) that calls fail(path, message) on the first problem; fail names
-- file:line through the caller's source map. Not a type system: just the checks we need.
local M = {}

-- A value in an error message: one line, short, no addresses.
local function describe(v)
  if type(v) == "string" then
    local s = v:sub(1, 60):gsub('[%c"\\]', function(c) return string.format("\\%03d", c:byte()) end)
    return '"' .. s .. (#v > 60 and '..."' or '"')
  end
  if type(v) == "table" then
    if tostring(v) == "null" then return "null" end
    return (v[1] ~= nil or next(v) == nil) and "a list" or "a table"
  end
  return tostring(v)
end
M.describe = describe

-- Every number has a finite range: int{min, max} (max defaults to INT_MAX, so no field is
-- unbounded), num{min | gt, max | lt} (finite; max defaults to NUM_MAX).
M.INT_MAX = 2147483647
M.NUM_MAX = 1e9

function M.int(opt)
  opt = opt or {}
  local max = opt.max or M.INT_MAX
  return function(v, path, fail)
    if math.type(v) ~= "integer" and not (type(v) == "number" and v == math.floor(v) and math.abs(v) < 2^53) then
      fail(path, "must be an integer, got " .. describe(v))
    end
    if opt.min and v < opt.min then fail(path, string.format("must be >= %d, got %s", opt.min, describe(v))) end
    if v > max then fail(path, string.format("must be <= %d, got %s", max, describe(v))) end
  end
end

function M.num(opt)
  opt = opt or {}
  return function(v, path, fail)
    if type(v) ~= "number" or v ~= v or v == math.huge or v == -math.huge then
      fail(path, "must be a finite number, got " .. describe(v))
    end
    if opt.min and v < opt.min then fail(path, string.format("must be >= %g, got %s", opt.min, describe(v))) end
    if opt.gt and v <= opt.gt then fail(path, string.format("must be > %g, got %s", opt.gt, describe(v))) end
    if opt.lt and v >= opt.lt then fail(path, string.format("must be < %g, got %s", opt.lt, describe(v))) end
    local max = opt.max or M.NUM_MAX
    if v > max then fail(path, string.format("must be <= %g, got %s", max, describe(v))) end
    if not opt.min and not opt.gt and v < -max then fail(path, string.format("must be >= %g, got %s", -max, describe(v))) end
  end
end

function M.bool()
  return function(v, path, fail)
    if type(v) ~= "boolean" then fail(path, "must be true or false, got " .. describe(v)) end
  end
end

-- opt.enum: the allowed values; opt.name: a name that ends up in generated C and the manifest
-- (letters, digits, '_', '.', '-'; at most 128 characters).
function M.str(opt)
  opt = opt or {}
  return function(v, path, fail)
    if type(v) ~= "string" then fail(path, "must be a string, got " .. describe(v)) end
    if opt.enum then
      for _, e in ipairs(opt.enum) do if e == v then return end end
      fail(path, string.format("must be one of %s, got %s", table.concat(opt.enum, ", "), describe(v)))
    end
    if opt.name and (not v:match("^[%w_][%w_.-]*$") or #v > 128) then
      fail(path, "must be a name of letters, digits, '_', '.' and '-' (at most 128), got " .. describe(v))
    end
    if #v > 4096 then fail(path, "must be at most 4096 characters") end
  end
end

function M.list(elem, opt)
  opt = opt or {}
  return function(v, path, fail)
    if type(v) ~= "table" then fail(path, "must be a list, got " .. describe(v)) end
    local n = 0
    for k in pairs(v) do
      if math.type(k) ~= "integer" then fail(path, "must be a list, has key " .. describe(k)) end
      n = n + 1
    end
    if n ~= #v then fail(path, "must be a list without holes") end
    if opt.len and #v ~= opt.len then fail(path, string.format("must have %d entries, has %d", opt.len, #v)) end
    if opt.min_len and #v < opt.min_len then fail(path, string.format("must have at least %d entries", opt.min_len)) end
    local max_len = opt.max_len or 4096
    if #v > max_len then fail(path, string.format("must have at most %d entries, has %d", max_len, #v)) end
    for i, e in ipairs(v) do
      local p = { table.unpack(path) }
      p[#p + 1] = i
      elem(e, p, fail)
    end
  end
end

-- fields: name -> schema; opt.required: list of names; unknown fields are errors.
function M.record(fields, opt)
  opt = opt or {}
  return function(v, path, fail)
    if type(v) ~= "table" then fail(path, "must be a table, got " .. describe(v)) end
    local names = {}
    for k in pairs(v) do names[#names + 1] = tostring(k) end
    table.sort(names)
    for _, k in ipairs(names) do
      local p = { table.unpack(path) }
      p[#p + 1] = k
      if not fields[k] then
        local known = {}
        for f in pairs(fields) do known[#known + 1] = f end
        table.sort(known)
        local near = require("util").closest(k, known)
        fail(p, string.format("unknown field %s (%sknown: %s)", describe(k),
          near and ("did you mean '" .. near .. "'? ") or "", table.concat(known, ", ")))
      end
      fields[k](v[k], p, fail)
    end
    for _, r in ipairs(opt.required or {}) do
      if v[r] == nil then fail(path, string.format("missing required field '%s'", r)) end
    end
  end
end

-- A table of name -> value, each checked by elem.
function M.map(elem)
  return function(v, path, fail)
    if type(v) ~= "table" then fail(path, "must be a table, got " .. describe(v)) end
    local names = {}
    for k in pairs(v) do
      if type(k) ~= "string" then fail(path, "keys must be strings, got " .. describe(k)) end
      names[#names + 1] = k
    end
    table.sort(names)
    for _, k in ipairs(names) do
      local p = { table.unpack(path) }
      p[#p + 1] = k
      elem(v[k], p, fail)
    end
  end
end

function M.path_str(path)
  local parts = {}
  for _, p in ipairs(path) do
    local s = tostring(p)
    parts[#parts + 1] = s:match("^[%w_.-]*$") and s or describe(s)
  end
  return table.concat(parts, ".")
end

-- Shared leaf schemas of the descriptions: a name that reaches generated C (module, weight and
-- family names), and a dtype.
M.NAME = M.str { name = true }
M.DTYPE = M.str { enum = { "fp32", "bf16", "fp16" } }

return M
