-- tests/tap.lua: the lines the Lua suites print, in the format tests/run.sh counts: check(ok,
-- what, detail) prints "ok - what" or "not ok - what: detail"; finish(name) prints "# name: N
-- failed" and exits non-zero after a failure. Usage: local tap = dofile("tests/tap.lua"). Not a
-- test itself.
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

return M
