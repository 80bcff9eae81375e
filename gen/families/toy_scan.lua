-- toy_scan.lua: the smallest network with state that persists across calls, the shape a chunked
-- VAE decoder has: one phase (`chunk`) that the runtime calls once per row of its input, adding
-- the row to a running sum held in a state buffer (role state: persistent, never written by the
-- runtime) and emitting the sum. Checked in tests/network_test.sh. Not here: a real model.
local Program = require("program")
local S = require("schema")

local M = {}

M.kind = "network"
M.class_names = { "ToyScan" }
M.config_fields = { features = S.int { min = 1, max = 65536 } }
M.config_required = { "features" }
M.config_json_ignored, M.config_json_metadata = {}, {}
M.variant_fields = {}
M.variant_required = {}
M.PHASES = { "chunk" }
M.PHASE_DOC = { chunk = "One chunk: sum += x; y = sum (sum persists across calls)." }

function M.dims(v) return { R = 1, F = v.config.features } end

function M.build(v)
  local P = Program.new(v.storage, v.fail_size, M.PHASES, M.PHASE_DOC)
  P:use_dims(v.dims, { R = "rows of one call", F = "features" })
  local R, F = P:dim("R"), P:dim("F")
  P:buffer("x", { R, F }, { kind = "io", role = "input", dims = "R, F", batched = true })
  P:buffer("sum", { R, F }, { kind = "io", role = "state", dims = "R, F" })
  P:buffer("y", { R, F }, { kind = "io", role = "output", dims = "R, F", batched = true })
  P:op("add", "sum", { out = { buf = "sum" }, a = { buf = "sum" }, b = { buf = "x" }, n = R * F }, { "sum", "x" }, { "sum" })
  P:op("to_f32", "y", { out = { buf = "y" }, src = { buf = "sum" }, n = R * F }, { "sum" }, { "y" })
  return P
end

return M
