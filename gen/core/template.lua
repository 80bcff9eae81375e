-- template.lua: logic-less text templates. A template file holds named sections, each starting
-- with a line `@@ name`; text before the first section is the file's own comment and is
-- dropped. Holes are `$(name)`; filling a hole that has no value is an error naming the
-- template file and line. No loops, no conditions: gen/ decides, templates only hold text.
local util = require("util")

local M = {}
local cache = {}

function M.load(path)
  if cache[path] then return cache[path] end
  local text = util.read_file(path)
  local t = { path = path, sections = {} }
  local current, lineno = nil, 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    lineno = lineno + 1
    local name = line:match("^@@%s+([%w_]+)%s*$")
    if name then
      current = { name = name, lines = {}, first = lineno + 1 }
      t.sections[name] = current
    elseif current then
      current.lines[#current.lines + 1] = line
    end
  end
  for _, s in pairs(t.sections) do
    while #s.lines > 0 and s.lines[#s.lines] == "" do s.lines[#s.lines] = nil end -- trailing blank lines
  end
  cache[path] = t
  return t
end

-- Fills section `name` of template t with values; returns the text (no trailing newline).
function M.render(t, name, values)
  local s = t.sections[name]
  if not s then util.fail(t.path, "no section '@@ %s'", name) end
  local out = {}
  for i, line in ipairs(s.lines) do
    out[i] = line:gsub("%$%(([%w_]+)%)", function(hole)
      local v = values[hole]
      if v == nil then util.fail(string.format("%s:%d", t.path, s.first + i - 1), "hole $(%s) has no value", hole) end
      return tostring(v)
    end)
  end
  return table.concat(out, "\n")
end

return M
