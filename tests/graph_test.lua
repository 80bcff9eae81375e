-- tests/graph_test.lua: the graph layer of the generator (gen/core/program.lua and the layers that
-- use it) beside a denoiser: generated calls name their dims, weights carry views, and a network
-- that is not a denoiser (tests/models/toy-mlp.lua) bakes and generates without a sampler or PAB
-- tables while a denoiser's fields and flags are refused by name. Prints ok / not ok lines. Run
-- from the repository root: lua5.4 tests/graph_test.lua. Not here: numerics (tests/network_test.sh).
dofile("gen/paths.lua")("")
require("strict")
local describe = require("describe")
local bakery = require("bake")
local tap = dofile("tests/tap.lua")
local check, sh, read = tap.check, tap.sh, tap.read

local tmp = tap.tmpdir()
assert(os.execute("mkdir -p " .. tmp .. "/out"))

-- Writes text to tmp/NAME and returns that path and the line where key first stands (0: none).
local function write_with_line(name, text, key)
  local path = tmp .. "/" .. name
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  local line, i = 0, 0
  for l in (text .. "\n"):gmatch("([^\n]*)\n") do
    i = i + 1
    if line == 0 and l:find(key, 1, true) then line = i end
  end
  return path, line
end

-- Generated calls name their dims: an argument in a dim's place (registry type dim) is that dim
-- or a dim expression, and no size argument is a bare number (the only bare integers left are
-- flags, row indices, the 256 sinusoid features and the collectives' byte counts); a plain
-- integer that is not the dim of its
-- name is refused when the op is added.
do
  local Program = require("program")
  local registry = require("registry")
  local bad, named, n = nil, 0, 0
  for _, model in ipairs({ "models/opensora-v1.2.lua", "models/latte.lua", "models/opensora-plan-v1.1.lua" }) do
    local fam = describe.load_family(model)
    for _, name in ipairs({ "fixture", "fixture-aggressive" }) do
      local v = describe.named(fam, name, name == "fixture-aggressive" and { sp = 2, name = "t" } or nil)
      local P = bakery.variant(fam, v, fam.path).program
      for _, phase in ipairs(P.phases) do
        for _, op in ipairs(P:linear_ops(phase)) do
          local k = registry.get(op.kind)
          for _, a in ipairs(k.args) do
            local x = op.args[a]
            if k.types[a] == "dim" or k.types[a] == "int" then n = n + 1 end
            if Program.is_dim(x) or (k.types[a] == "dim" and P.dims[a] == x) then named = named + 1
            elseif math.type(x) == "integer" and x > 6 and not (x == 256 and (a == "dim" or a == "K"))
                and not op.kind:match("^all_") and op.kind ~= "cfg_gather" then
              bad = bad or string.format("%s/%s: %s (%s) argument %s is the bare number %d", fam.family, v.name, op.name,
                op.kind, a, x)
            end
          end
        end
      end
    end
  end
  check(bad == nil and named > 1000, string.format("every size argument of the fixtures' ops is named: %d of %d integer "
    .. "arguments are dims or dim expressions, the rest flags and indices", named, n), bad)
  local P = Program.new()
  P:use_dims({ B = 2, C = 8 })
  P:buffer("a", { 2, 8 })
  local ok, err = pcall(P.op, P, "silu", "s", { out = { buf = "a" }, src = { buf = "a" }, n = P:dim("B * C") }, { "a" }, { "a" })
  local ok2, err2 = pcall(P.op, P, "text_pack", "t", { out = { buf = "a" }, src = { buf = "a" }, idx = { buf = "a" },
    lens = { buf = "a" }, B = 3, L = 1, C = 8 }, { "a" }, { "a" })
  check(ok and not ok2 and tostring(err2):find("argument B is 3, not the dim B = 2", 1, true) ~= nil,
    "a plain integer in a dim's place that is not that dim is refused", tostring(err) .. " / " .. tostring(err2))
end

-- A weight keeps its checkpoint shape (the manifest) and may carry the shape the ops read it as
do
  local Program = require("program")
  local P = Program.new()
  P:weight("conv.weight", { 8, 4, 1, 2, 2 }, { 8, 16 })
  local ok = pcall(P.weight, P, "bad.weight", { 8, 4 }, { 8, 5 })
  local off = read("out/latte/fixture/offsets.h") or ""
  check(table.concat(P.weights["conv.weight"].view, ",") == "8,16" and not ok
    and off:find("WT_pos_embed_proj_weight %d+ull /%* %[64, 4, 2, 2%], read as %[64, 16%] %*/") ~= nil,
    "a weight's view: the same elements (another count is refused), shown beside the checkpoint shape in offsets.h")
end

-- A network (kind "network"): one phase, named io, no sampler or PAB part; a denoiser's fields
-- and flags are refused by name.
do
  local toy = "tests/models/toy-mlp.lua"
  local fam = describe.load_family(toy)
  local b = bakery.variant(fam, describe.named(fam, "fixture"), fam.path)
  local io = {}
  for _, buf in ipairs(b.program.buffer_list) do if buf.kind == "io" then io[#io + 1] = buf.name .. ":" .. buf.role end end
  check(fam.cls.kind == "network" and b.sched == nil and b.pab == nil and #b.program.modules == 0
    and table.concat(b.program.phases, ",") == "forward" and table.concat(io, ",") == "x:input,y:output",
    "a network bakes one phase (forward) with io x (input) and y (output), no sampler or PAB tables", table.concat(io, ","))
  os.execute("rm -rf " .. tmp .. "/out/*")
  local rc, out = sh("lua5.4 gen/main.lua --model " .. toy .. " --variant fixture --out " .. tmp .. "/out --quiet")
  local files = select(2, sh("ls " .. tmp .. "/out"))
  check(rc == 0 and not files:find("schedule.txt") and files:find("plan.txt") and files:find("manifest.txt"),
    "a network's generated files: no schedule.txt, plan.txt and manifest.txt", out .. files)
  local tab = read(tmp .. "/out/tables.c") or ""
  check(tab:find('.kind = "network"', 1, true) and tab:find(".denoiser = NULL", 1, true) and not tab:find("pab_table"),
    "a network's tables.c: kind network, no denoiser part")
  rc, out = sh("lua5.4 gen/main.lua --model " .. toy .. " --variant fixture --sp 2 --name x --out " .. tmp .. "/out")
  check(rc == 1 and out:find("apply to denoisers") ~= nil, "--sp on a network is refused in one line", out)
  local path, line = write_with_line("toy.lua", (read(toy):gsub('symbol = "toy",', 'symbol = "toy", sampler = { kind = "rflow" },')),
    "sampler")
  rc, out = sh("lua5.4 gen/main.lua --model " .. path .. " --variant fixture --out " .. tmp .. "/out")
  check(rc == 1 and out:find(path .. ":" .. line, 1, true) and out:find("unknown field \"sampler\"", 1, true),
    "a sampler in a network's description is refused at its line", out)
end

os.execute("rm -rf " .. tmp)
tap.finish("graph_test")
