-- util.lua: generator plumbing: the list of files read (for the depfile), write-if-changed,
-- user errors with file:line, and source-line lookup for fields of a description file.
-- Not model logic.
local M = {}

M.reads = {}      -- every file the generator read, in first-read order (depfile)
local seen = {}

function M.note_read(path)
  if not seen[path] then seen[path] = true; M.reads[#M.reads + 1] = path end
end

function M.read_file(path)
  local f, err = io.open(path, "rb")
  if not f then M.fail(nil, "cannot read %s: %s", path, err) end
  local s = f:read("a")
  f:close()
  M.note_read(path)
  return s
end

-- A user error: "file:line: message". Raised as a table so main.lua prints it without a traceback.
function M.fail(where, fmt, ...)
  local msg = string.format(fmt, ...)
  if where then msg = where .. ": " .. msg end
  -- one line, always: control characters that came in with a value are shown escaped
  msg = msg:gsub("[%c]", function(c) return c == "\n" and "\\n" or string.format("\\%03d", c:byte()) end)
  error({ gen_error = msg }, 0)
end

-- Notes: things the user should know that are not errors (an ignored config.json field, a
-- deprecated flag). Collected, each text once, and printed on stderr by flush_notes() after the
-- files are written, so a run that fails prints its one error line and nothing else.
M.quiet = false
local notes, noted = {}, {}

function M.note(fmt, ...)
  local msg = string.format(fmt, ...)
  if not noted[msg] then noted[msg] = true; notes[#notes + 1] = msg end
end

function M.flush_notes()
  if not M.quiet then
    for _, n in ipairs(notes) do io.stderr:write("note: " .. n .. "\n") end
  end
  notes, noted = {}, {}
end

-- The known name closest to a misspelt one (at most 2 edits away), or nil: for "did you mean".
function M.closest(name, known)
  local function dist(a, b)
    local prev = {}
    for j = 0, #b do prev[j] = j end
    for i = 1, #a do
      local cur = { [0] = i }
      for j = 1, #b do
        cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a:byte(i) == b:byte(j) and 0 or 1))
      end
      prev = cur
    end
    return prev[#b]
  end
  local best, best_d
  for _, k in ipairs(known) do
    local d = dist(name, k)
    if d <= 2 and (not best_d or d < best_d or (d == best_d and k < best)) then best, best_d = k, d end
  end
  return best
end

-- Writes path only if its content differs (so ninja's restat sees unchanged outputs).
-- Returns true when the file was written.
function M.write_if_changed(path, content)
  local f = io.open(path, "rb")
  if f then
    local old = f:read("a")
    f:close()
    if old == content then return false end
  end
  local tmp = path .. ".tmp"
  local out, err = io.open(tmp, "wb")
  if not out then M.fail(nil, "cannot write %s: %s", tmp, err) end
  out:write(content)
  out:close()
  local ok, rerr = os.rename(tmp, path)
  if not ok then M.fail(nil, "cannot rename %s: %s", tmp, rerr) end
  return true
end

-- Source map of a Lua description file: finds the line of a field path such as
-- {"variants", "fixture", "config", "depth"} by scanning for `name =` (or `["name"] =`)
-- after the line of its parent; a numeric part n is the n-th `{ ... }` entry of the list that
-- starts at its parent's line. A top-level field is first looked for as a line that starts with
-- it, from the description's `return` on (helper tables above it and entries such as a block's
-- `pab = ...` have fields of the same names). Falls back to the deepest line found.
function M.srcmap(path, text)
  local lines = {}
  local top -- the line of the description's `return`
  for l in (text .. "\n"):gmatch("([^\n]*)\n") do
    lines[#lines + 1] = (l:gsub("%-%-.*$", ""))
    if not top and lines[#lines]:match("^return%f[^%w_]") then top = #lines end
  end
  top = top or 1
  local function find(name, from, line_start)
    local esc = tostring(name):gsub("%p", "%%%0")
    for i = from, #lines do
      local l = lines[i]
      if l:find("^%s*" .. esc .. "%s*=") or not line_start and (l:find("[{,]%s*" .. esc .. "%s*=")
        or l:find('%[%s*"' .. esc .. '"%s*%]%s*=')) then
        return i
      end
    end
  end
  -- the line where entry n of the list opened on line `from` starts (strings are not parsed:
  -- descriptions do not put braces in strings)
  local function entry(n, from)
    local depth, count, opened = 0, 0, false
    for i = from, #lines do
      for c in lines[i]:gmatch("[{}]") do
        if c == "{" then
          depth = depth + 1
          if opened and depth == 2 then
            count = count + 1
            if count == n then return i end
          end
          opened = true
        else
          depth = depth - 1
          if opened and depth == 0 then return nil end
        end
      end
    end
  end
  return function(fieldpath)
    local line, from = 1, top
    for depth, name in ipairs(fieldpath) do
      local l
      if type(name) == "number" then l = entry(name, from)
      else l = depth == 1 and find(name, from, true) or find(name, from) end
      if not l then break end
      line, from = l, l
    end
    return path .. ":" .. line
  end
end

function M.sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

function M.copy(t)
  if type(t) ~= "table" then return t end
  local c = {}
  for k, v in pairs(t) do c[k] = M.copy(v) end
  return c
end

-- Merges overrides into a deep copy of base (tables merge recursively, lists are replaced).
function M.merge(base, over)
  local out = M.copy(base)
  for k, v in pairs(over or {}) do
    if type(v) == "table" and type(out[k]) == "table" and #v == 0 and next(v) ~= nil then
      out[k] = M.merge(out[k], v)
    else
      out[k] = M.copy(v)
    end
  end
  return out
end

function M.shape_str(shape) -- {2, 120, 96} -> "[2, 120, 96]"
  local s = {}
  for i, n in ipairs(shape) do s[i] = tostring(n) end
  return "[" .. table.concat(s, ", ") .. "]"
end

function M.ident(name)        -- "spatial_blocks.0.attn" -> "spatial_blocks_0_attn"
  return (name:gsub("[^%w]", "_"))
end

function M.prod(list)
  local p = 1
  for _, v in ipairs(list) do p = p * v end
  return p
end

return M
