-- tests/tap.lua: what the Lua suites share: the lines they print, in the format tests/run.sh
-- counts (check(ok, what, detail) prints "ok - what" or "not ok - what: detail"; finish(name)
-- prints "# name: N failed" and exits non-zero after a failure), a shell command's status and
-- output (sh), a scratch folder (tmpdir), and a file's content (read). Usage:
-- local tap = dofile("tests/tap.lua"). Not a test itself.
local M = { failed = 0 }

function M.check(ok, what, detail)
  if ok then print("ok - " .. what) else
    M.failed = M.failed + 1
    print("not ok - " .. what .. (detail and (": " .. tostring(detail)) or ""))
  end
end

function M.finish(name)
  print(string.format("# %s: %d failed", name, M.failed))
  os.exit(M.failed == 0 and 0 or 1)
end

-- Runs cmd with stderr joined to stdout; returns its exit status and the output.
function M.sh(cmd)
  local f = assert(io.popen(cmd .. " 2>&1; echo \"rc=$?\""))
  local out = f:read("a")
  f:close()
  local rc = tonumber(out:match("rc=(%d+)\n?$"))
  return rc, out:gsub("rc=%d+\n?$", "")
end

-- A new empty scratch folder (the caller removes it: os.execute("rm -rf " .. dir)).
function M.tmpdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir))
  return dir
end

-- The content of path, or nil when it cannot be read.
function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

return M
