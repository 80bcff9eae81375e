-- strict.lua: makes reading or writing an undeclared global an error, for every gen/ module.
-- Not a sandbox: it only catches typos and accidental globals.
local mt = {}
setmetatable(_G, mt)
mt.__newindex = function(_, name)
  error("gen: assignment to undeclared global '" .. tostring(name) .. "'", 2)
end
mt.__index = function(_, name)
  error("gen: read of undeclared global '" .. tostring(name) .. "'", 2)
end
return true
