-- tests/gen_fuzz.lua: a seeded fuzz test of the generator with hostile inputs: mutated upstream
-- config.json files of every family, mutated PAB config JSON, and mutated model descriptions.
-- Every run must end in success (exit 0, the files written, stderr only notes) or in one line
-- `gen: error: FILE:LINE: message` (or `FILE: message` where no line exists) naming the mutated
-- input, with exit 1 and nothing written, within a time limit. Not a C fuzzer: it generates
-- only and compiles nothing.
-- Usage (from the repository root): lua5.4 tests/gen_fuzz.lua [--count N] [--seed S] [--jobs J]
--   N mutations per input (default 150, as `ninja test` runs it; `ninja fuzz-gen` runs 1000), J parallel runs (default 2).
-- Prints one ok / not ok line per input kind; a failure lists the first few failing cases with
-- a command that reproduces each.

-- ---- options -----------------------------------------------------------------------------------
local opt = { count = 150, seed = 1, jobs = 2 }
do
  local i = 1
  while i <= #arg do
    local k = arg[i]:match("^%-%-(%a+)$")
    if not k or opt[k] == nil or not math.tointeger(tonumber(arg[i + 1])) then
      io.stderr:write("usage: lua5.4 tests/gen_fuzz.lua [--count N] [--seed S] [--jobs J]\n")
      os.exit(2)
    end
    opt[k] = math.tointeger(tonumber(arg[i + 1]))
    i = i + 2
  end
end
local LIMIT_S = 20 -- a run taking longer counts as a failure ("runs for minutes")

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local function lines_of(text)
  local out = {}
  for l in (text .. "\n"):gmatch("([^\n]*)\n") do out[#out + 1] = l end
  if out[#out] == "" and text:sub(-1) == "\n" then out[#out] = nil end
  return out
end

-- ---- mutations ---------------------------------------------------------------------------------
-- One random generator for the whole run (seeded), so a case number always means the same input.
math.randomseed(opt.seed)
local function pick(list) return list[math.random(#list)] end

-- hostile JSON values: limits of every integer type, floats that overflow, wrong types
local JSON_VALUES = {
  "0", "-1", "1", "2", "3", "5", "7", "16", "1.5", "0.1", "-0.0", "1e-300", "1e300", "-1e300", "1e309",
  "2147483647", "2147483648", "4294967297", "9007199254740993", "9223372036854775807",
  "9223372036854775808", "18446744073709551616", "65536", "65537", "100000", "1000000000", "3.0",
  "4.0000001", '"x"', '""', '"gelu-approximate"', "true", "false", "null", "[]", "{}", "[1]", "[1, 2]",
  "[1, 2, 2]", "[0, 1, 1]", "[1e300, 2, 2]", "[-1, 2, 2]", "[2, 2, 2]", "[1, 64, 64]", "[null, 2, 2]",
  '{"a": 1}', "[[1]]", '{"block": [0], "skip_count": 2}', "[100, 990]", "[990, 100]", "[0, 1e300]",
}
-- new keys: typos and fields of other classes or tools
local NEW_KEYS = { "depht", "hidden_sise", "enable_sequence_parallelism", "spatial_treshold", "mlp_braodcast",
  "num_layers", "depth", "dropout", "cross_attention_dim", "foo", "_private", "steps", "block", "skip_count" }

-- A mutated copy of a pretty-printed JSON text (one key per line).
local function mutate_json(text)
  local ls = lines_of(text)
  local n_ops = math.random(1, 3)
  for _ = 1, n_ops do
    local keyed = {}
    for i, l in ipairs(ls) do if l:match('^%s*"[^"]+"%s*:') then keyed[#keyed + 1] = i end end
    local r = math.random(100)
    local i = #keyed > 0 and pick(keyed) or 1
    local l = ls[i] or ""
    if r <= 45 and #keyed > 0 then -- replace a value that sits on its key's line
      local head, rest = l:match('^(%s*"[^"]+"%s*:%s*)(.*)$')
      local comma = rest:match(",%s*$") and "," or ""
      if rest:match("^[%[{]%s*$") then -- a multi-line value: replace it through its closing line
        local depth, j = 0, i
        repeat
          for c in ls[j]:gsub('"[^"]*"', ""):gmatch("[%[%]{}]") do
            depth = depth + ((c == "[" or c == "{") and 1 or -1)
          end
          j = j + 1
        until depth <= 0 or j > #ls
        comma = (ls[j - 1] or ""):match(",%s*$") and "," or ""
        for _ = i + 1, j - 1 do table.remove(ls, i + 1) end
      end
      ls[i] = head .. pick(JSON_VALUES) .. comma
    elseif r <= 55 and #keyed > 0 then -- scale a number
      local head, num, tail = l:match('^(%s*"[^"]+"%s*:%s*)(%-?[%d.eE+-]+)(.*)$')
      if num and tonumber(num) then
        local v = tonumber(num) * pick({ 0, -1, 2, 10, 1000, 1e6, 0.5, 1 / 3, 2^40 })
        ls[i] = head .. (math.tointeger(v) and string.format("%d", v) or string.format("%.17g", v)) .. tail
      end
    elseif r <= 63 and #keyed > 0 then -- delete a key line
      table.remove(ls, i)
    elseif r <= 71 and #keyed > 0 then -- misspell a key
      ls[i] = l:gsub('"([^"]+)"', function(k)
        local p = math.random(1, #k)
        if #k > 1 and math.random() < 0.5 then return '"' .. k:sub(1, p - 1) .. k:sub(p + 1) .. '"' end
        return '"' .. k:sub(1, p) .. k:sub(p, -1) .. '"'
      end, 1)
    elseif r <= 78 and #keyed > 0 then -- duplicate a line
      table.insert(ls, i, l)
    elseif r <= 88 then -- add a key after the opening brace
      table.insert(ls, 2, string.format('  "%s": %s,', pick(NEW_KEYS), pick(JSON_VALUES)))
    else -- damage bytes: cut the text, or insert/delete one character
      local t = table.concat(ls, "\n")
      local p = math.random(1, #t)
      local kind = math.random(3)
      if kind == 1 then t = t:sub(1, p)
      elseif kind == 2 then t = t:sub(1, p - 1) .. pick({ "{", "}", "[", "]", ",", ":", '"', "\\", "\0", "\n", "9", "e", "-" }) .. t:sub(p)
      else t = t:sub(1, p - 1) .. t:sub(p + 1) end
      ls = lines_of(t)
    end
  end
  return table.concat(ls, "\n") .. "\n"
end

-- hostile Lua values for a description: the same limits, plus Lua's own (nan, inf, 2^63)
local LUA_VALUES = { "0", "-1", "1", "2", "3", "7", "1.5", "0.5", "1e-300", "1e300", "-1e300", "2^53 + 1", "2^63",
  "math.maxinteger", "math.mininteger", "math.huge", "-math.huge", "0/0", "65537", "100000", "1000000000",
  "4.0000001", '"x"', '""', '"a\\nb"', '"*/"', "true", "false", "nil", "{}", "{ 1 }", "{ 1, 2, 2 }", "{ 0, 1 }",
  "{ -1, 2, 2 }", "{ key = 1 }" }

-- A mutated copy of a model description: values after `name =`, names, strings, lines.
local function mutate_lua(text)
  local ls = lines_of(text)
  local n_ops = math.random(1, 2)
  for _ = 1, n_ops do
    local fields = {}
    for i, l in ipairs(ls) do if not l:match("^%s*%-%-") and l:match("[%w_%]]%s*=%s*[^=]") then fields[#fields + 1] = i end end
    local i = pick(fields)
    local l = ls[i]
    local r = math.random(100)
    if r <= 55 then -- replace the value of one `name = value` on the line (a number, string or word)
      local starts = {}
      for p in l:gmatch("()[%w_%]]%s*=%s*[^=]") do starts[#starts + 1] = p end
      local p = pick(starts)
      local before, after = l:sub(1, p), l:sub(p + 1)
      after = after:gsub("^(%s*=%s*)([%w_.\"%-%+^]+)", function(eq) return eq .. pick(LUA_VALUES) end, 1)
      ls[i] = before .. after
    elseif r <= 70 then -- a number anywhere on the line
      local nums = {}
      for p in l:gmatch("()%f[%w.]%d+%.?%d*") do nums[#nums + 1] = p end
      if #nums > 0 then
        local p = pick(nums)
        ls[i] = l:sub(1, p - 1) .. l:sub(p):gsub("^%d+%.?%d*", pick(LUA_VALUES), 1)
      end
    elseif r <= 80 then -- misspell a field name
      ls[i] = l:gsub("([%a_][%w_]*)(%s*=%s*[^=])", function(k, rest) return k .. "x" .. rest end, 1)
    elseif r <= 88 then -- a string value
      ls[i] = l:gsub('"[^"]*"', pick({ '"x"', '""', '"a b"', '"q\\n"', '"spatial"', '"mlp"', '"fp8"' }), 1)
    elseif r <= 94 then
      table.remove(ls, i)
    else
      table.insert(ls, i, l)
    end
  end
  return table.concat(ls, "\n") .. "\n"
end

-- ---- inputs --------------------------------------------------------------------------------------
local SIZES = {
  os12 = "--height 48 --width 56 --frames 17 --latent 3,6,7 --steps 12 --pipeline-dtype fp32",
  latte = "--height 48 --width 80 --frames 3 --text-len 6 --steps 10 --pipeline-dtype fp32",
  osp = "--height 64 --width 48 --frames 13 --text-len 7 --steps 12 --pipeline-dtype fp32",
}
local INPUTS = { -- kind, source file, mutator, command (FILE: the mutated copy)
  { "STDiT3 config.json", "tests/data/stdit3-odd.json", mutate_json,
    "--model models/opensora-v1.2.lua --config FILE --name f " .. SIZES.os12 },
  { "LatteT2V config.json (Latte)", "tests/data/latte-config.json", mutate_json,
    "--model models/latte.lua --config FILE --name f " .. SIZES.latte },
  { "LatteT2V config.json (Open-Sora-Plan)", "tests/data/osp-config.json", mutate_json,
    "--model models/opensora-plan-v1.1.lua --config FILE --name f " .. SIZES.osp },
  { "PAB config JSON", "tests/data/pab-aggressive.json", mutate_json,
    "--model models/opensora-v1.2.lua --variant fixture --pab FILE --name f" },
  { "model description (Open-Sora 1.2)", "models/opensora-v1.2.lua", mutate_lua, "--model FILE --variant fixture" },
  { "model description (Latte)", "models/latte.lua", mutate_lua, "--model FILE --variant fixture" },
  { "model description (Open-Sora-Plan)", "models/opensora-plan-v1.1.lua", mutate_lua, "--model FILE --variant fixture" },
  -- the networks: the T5 encoder and the three VAE decoders, from config.json and as descriptions
  { "T5Config config.json", "tests/data/t5-odd.json", mutate_json,
    "--model models/t5-v1.1.lua --config FILE --name f --seq-len 37 --batch 2" },
  { "VAE config.json (Open-Sora 1.2, nested)", "tests/golden/vae-opensora-v1.2/config.json", mutate_json,
    "--model models/vae-opensora-v1.2.lua --config FILE --name f --latent 4,8,5,7 --frames 26" },
  { "VAE config.json (Latte)", "tests/golden/vae-latte/config.json", mutate_json,
    "--model models/vae-latte.lua --config FILE --name f --latent 4,16,6,5" },
  { "VAE config.json (Open-Sora-Plan, tiled)", "tests/golden/vae-opensora-plan-v1.1/config.json", mutate_json,
    "--model models/vae-opensora-plan-v1.1.lua --config FILE --name f --latent 4,4,5,6 --tiling 32,4,9,3,0.25" },
  { "model description (VAE Open-Sora 1.2)", "models/vae-opensora-v1.2.lua", mutate_lua, "--model FILE --variant fixture" },
  { "model description (VAE Open-Sora-Plan)", "models/vae-opensora-plan-v1.1.lua", mutate_lua,
    "--model FILE --variant fixture" },
}

local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -p " .. tmp))
local cases = {}
for k, input in ipairs(INPUTS) do
  local src = read(input[2])
  local ext = input[2]:match("%.(%w+)$")
  for n = 1, opt.count do
    local id = #cases + 1
    local file = string.format("%s/c%d.%s", tmp, id, ext)
    write(file, input[3](src))
    cases[id] = { input = k, n = n, file = file, out = string.format("%s/o%d", tmp, id),
      cmd = "lua5.4 gen/main.lua " .. input[4]:gsub("FILE", file) .. string.format(" --out %s/o%d", tmp, id) }
  end
end

-- ---- running: J shell workers, each case under `timeout` ------------------------------------------
local workers = {}
for id, c in ipairs(cases) do
  local w = (id - 1) % opt.jobs + 1
  workers[w] = workers[w] or {}
  local t = workers[w]
  t[#t + 1] = string.format("s=$(date +%%s%%N); timeout %d %s >/dev/null 2>%s/e%d; rc=$?; "
    .. "echo \"%d $rc $(( ($(date +%%s%%N) - s) / 1000000 ))\"", LIMIT_S, c.cmd, tmp, id, id)
end
local parts = {}
for w, t in ipairs(workers) do
  write(string.format("%s/w%d.sh", tmp, w), table.concat(t, "\n") .. "\n")
  parts[#parts + 1] = string.format("sh %s/w%d.sh > %s/r%d &", tmp, w, tmp, w)
end
local started = os.time()
assert(os.execute(table.concat(parts, " ") .. " wait"))
local results = {}
for w = 1, #workers do
  for id, rc, ms in read(string.format("%s/r%d", tmp, w)):gmatch("(%d+) (%d+) (%d+)") do
    results[tonumber(id)] = { rc = tonumber(rc), ms = tonumber(ms) }
  end
end

-- ---- judging -------------------------------------------------------------------------------------
local function escape(s) return (s:gsub("%p", "%%%0")) end

-- Returns nil when the outcome is acceptable, else why not.
local function judge(c)
  local r = results[c.id]
  if not r then return "no result" end
  local err = read(string.format("%s/e%d", tmp, c.id))
  local exists = os.rename(c.out, c.out)
  if r.rc == 124 then return "ran past " .. LIMIT_S .. " s" end
  if r.rc == 0 then
    for l in err:gmatch("[^\n]+") do
      if not l:match("^note: ") then return "exit 0 with stderr: " .. l end
    end
    local f = io.open(c.out .. "/plan.txt") -- every variant's (a denoiser's schedule.txt beside it)
    if not f then return "exit 0 without the files" end
    f:close()
    return nil
  end
  if r.rc ~= 1 then return "exit " .. r.rc .. ": " .. (err:match("[^\n]*") or "") end
  local ls = lines_of(err)
  if #ls ~= 1 then return string.format("%d stderr lines: %s", #ls, (err:gsub("\n", " | "):sub(1, 300))) end
  if exists then return "an error, yet the output directory exists" end
  local msg = ls[1]
  local file = escape(c.file)
  local line = msg:match("^gen: error: " .. file .. ":(%d+): %S")
  if line then
    local n = #lines_of(read(c.file))
    if tonumber(line) < 1 or tonumber(line) > n + 1 then return "line " .. line .. " outside the file: " .. msg end
    return nil
  end
  if msg:match("^gen: error: " .. file .. ": %S") then return nil end
  return "the error does not name " .. c.file .. ":LINE: " .. msg
end

local per_input = {}
for id, c in ipairs(cases) do
  c.id = id
  local why = judge(c)
  local s = per_input[c.input] or { ok = 0, err = 0, bad = {}, slowest = 0 }
  per_input[c.input] = s
  if results[id] then s.slowest = math.max(s.slowest, results[id].ms) end
  if why then s.bad[#s.bad + 1] = { c = c, why = why }
  elseif results[id].rc == 0 then s.ok = s.ok + 1
  else s.err = s.err + 1 end
end

local failed = 0
local keep = false
for k, input in ipairs(INPUTS) do
  local s = per_input[k]
  local what = string.format("%s: %d mutations of %s (seed %d): %d generate, %d end in one file:line error; "
    .. "slowest %.2f s", input[1], opt.count, input[2], opt.seed, s.ok, s.err, s.slowest / 1000)
  if #s.bad == 0 then print("ok - " .. what) else
    failed, keep = failed + 1, true
    print(string.format("not ok - %s; %d other outcomes:", what, #s.bad))
    for j = 1, math.min(#s.bad, 5) do
      local b = s.bad[j]
      print(string.format("#   case %d: %s\n#     %s", b.c.id, b.why, b.c.cmd))
    end
  end
end
print(string.format("# gen_fuzz: %d cases in %d s, %d failed%s", #cases, os.time() - started, failed,
  keep and (" (inputs kept in " .. tmp .. ")") or ""))
if not keep then os.execute("rm -rf " .. tmp) end
os.exit(failed == 0 and 0 or 1)
