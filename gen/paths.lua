-- paths.lua: where gen/'s modules live, by role, for every entry point (gen/main.lua,
-- gen/buildgen.lua, the Lua tests): core/ the graph layer and the generator's stages, nn/ the
-- network pieces, denoiser/ samplers, PAB, sequence parallelism and a denoiser's tables,
-- families/ the model classes, pipeline/ a variant's parts and phases as one pipeline. Modules keep short unique names (require("plan")).
-- Usage: dofile(ROOT .. "gen/paths.lua")(ROOT), ROOT "" or ending in "/". Not here: any logic.
local ROLES = { "core", "nn", "denoiser", "families", "pipeline" }
return function(root)
  local dirs = {}
  for i, role in ipairs(ROLES) do dirs[i] = root .. "gen/" .. role .. "/?.lua" end
  package.path = table.concat(dirs, ";") .. ";" .. package.path
  return table.concat(dirs, ";")
end
