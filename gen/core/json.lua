-- json.lua: a strict JSON decoder for config.json imports and test oracles. Objects remember
-- their key order (json.keys) and the line of every key (json.line), so errors can point at
-- file:line and dict order (which upstream's PAB semantics depend on) survives.
-- Not an encoder, not a streaming parser.
local M = {}

local meta = setmetatable({}, { __mode = "k" }) -- object -> { keys = {...}, lines = {key = n} }

function M.keys(obj) return meta[obj] and meta[obj].keys or {} end
function M.line(obj, key) return meta[obj] and meta[obj].lines[key] end
function M.is_object(v) return type(v) == "table" and meta[v] ~= nil end
M.null = setmetatable({}, { __tostring = function() return "null" end })

-- A string quoted for a one-line message (control characters and quotes as \ddd).
local function quote(s)
  return "'" .. s:sub(1, 60):gsub("[%c'\\\128-\255]", function(c) return string.format("\\%03d", c:byte()) end) .. "'"
end

function M.decode(text, name)
  local pos, line = 1, 1
  local function fail(msg)
    error({ json_error = true, msg = string.format("%s:%d: %s", name or "json", line, msg) }, 0)
  end
  local function skip()
    while true do
      local c = text:sub(pos, pos)
      if c == "\n" then line = line + 1; pos = pos + 1
      elseif c == " " or c == "\t" or c == "\r" then pos = pos + 1
      else return c end
    end
  end
  local value
  local depth = 0
  local function str()
    pos = pos + 1
    local out = {}
    while true do
      local c = text:sub(pos, pos)
      if c == "" then fail("unterminated string") end
      if c == '"' then pos = pos + 1; return table.concat(out) end
      if c:byte() < 32 then fail("control character in string") end
      if c == "\\" then
        local e = text:sub(pos + 1, pos + 1)
        local map = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }
        if map[e] then out[#out + 1] = map[e]; pos = pos + 2
        elseif e == "u" then
          local hex = text:sub(pos + 2, pos + 5)
          if not hex:match("^%x%x%x%x$") then fail("bad \\u escape") end
          out[#out + 1] = utf8.char(tonumber(hex, 16)); pos = pos + 6
        else fail("bad escape") end
      else out[#out + 1] = c; pos = pos + 1 end
    end
  end
  function value()
    local c = skip()
    if c == "{" or c == "[" then
      depth = depth + 1
      if depth > 64 then fail("nested deeper than 64 levels") end
    end
    if c == "{" then
      pos = pos + 1
      local obj, info = {}, { keys = {}, lines = {} }
      meta[obj] = info
      if skip() == "}" then pos = pos + 1; depth = depth - 1; return obj end
      while true do
        if skip() ~= '"' then fail("expected a string key") end
        local kline = line
        local k = str()
        if info.lines[k] then fail("duplicate key " .. quote(k)) end
        if skip() ~= ":" then fail("expected ':'") end
        pos = pos + 1
        obj[k] = value()
        info.keys[#info.keys + 1] = k
        info.lines[k] = kline
        local d = skip()
        pos = pos + 1
        if d == "}" then depth = depth - 1; return obj end
        if d ~= "," then fail("expected ',' or '}'") end
      end
    elseif c == "[" then
      pos = pos + 1
      local arr = {}
      if skip() == "]" then pos = pos + 1; depth = depth - 1; return arr end
      while true do
        arr[#arr + 1] = value()
        local d = skip()
        pos = pos + 1
        if d == "]" then depth = depth - 1; return arr end
        if d ~= "," then fail("expected ',' or ']'") end
      end
    elseif c == '"' then return str()
    elseif text:sub(pos, pos + 3) == "true" then pos = pos + 4; return true
    elseif text:sub(pos, pos + 4) == "false" then pos = pos + 5; return false
    elseif text:sub(pos, pos + 3) == "null" then pos = pos + 4; return M.null
    else
      local num = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
      if not num or num == "" or num == "-" then fail("unexpected character " .. quote(c)) end
      pos = pos + #num
      local v = math.tointeger(tonumber(num)) or tonumber(num)
      if v == nil then fail("bad number " .. quote(num)) end
      return v
    end
  end
  local ok, result = pcall(function()
    local v = value()
    if skip() ~= "" then fail("trailing characters after the value") end
    return v
  end)
  if ok then return result end
  if type(result) == "table" and result.json_error then return nil, result.msg end
  error(result, 0)
end

function M.decode_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  return M.decode(text, path)
end

return M
