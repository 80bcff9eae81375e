-- toy_mlp.lua: the smallest network that is not a denoiser, kept as the proof that the graph
-- layer serves any network: two linear layers (GELU-tanh between) and an RMSNorm, one phase
-- (`forward`), io by name (input `x` [R, Din], output `y` [R, Dout]). No sampler, no cache
-- tables, no sequence parallelism. Checked against numpy in tests/network_test.sh. Not here: a
-- real model (T5, VAEs come as their own classes).
local Program = require("program")
local nn = require("nn")
local S = require("schema")

local M = {}

M.kind = "network"
M.class_names = { "ToyMLP" }
M.config_fields = {
  in_features = S.int { min = 1, max = 65536 },
  hidden_features = S.int { min = 1, max = 65536 },
  out_features = S.int { min = 1, max = 65536 },
  norm_eps = S.num { gt = 0, lt = 1 },
}
M.config_required = { "in_features", "hidden_features", "out_features", "norm_eps" }
M.config_json_ignored, M.config_json_metadata = {}, { architectures = true, model_type = true }
-- a variant's own fields besides config: the rows one call runs
M.variant_fields = { rows = S.int { min = 1, max = 1 << 20 } }
M.variant_required = { "rows" }
M.PHASES = { "forward" }
M.PHASE_DOC = { forward = "The whole network: y = RMSNorm(fc2(GELU(fc1(x))))." }

function M.dims(v)
  local c = v.config
  return { R = v.rows, Din = c.in_features, Dh = c.hidden_features, Dout = c.out_features }
end

function M.build(v)
  local d, c = v.dims, v.config
  local P = Program.new(v.storage, v.fail_size, M.PHASES, M.PHASE_DOC)
  P:use_dims(d, { R = "rows", Din = "input features", Dh = "hidden features", Dout = "output features" })
  P:buffer("x", { d.R, d.Din }, { kind = "io", role = "input", dims = "R, Din" })
  P:buffer("y", { d.R, d.Dout }, { kind = "io", role = "output", dims = "R, Dout" })
  P:buffer("h", { d.R, d.Dh }, { dims = "R, Dh" })
  P:buffer("z", { d.R, d.Dout }, { dims = "R, Dout" })
  local R, Din, Dh, Dout = P:dim("R"), P:dim("Din"), P:dim("Dh"), P:dim("Dout")
  nn.linear(P, "fc1", "x", "h", R, Din, Dh, { act = "gelu_tanh", dump = "fc1" })
  nn.linear(P, "fc2", "h", "z", R, Dh, Dout, { dump = "fc2" })
  nn.rms_norm(P, "norm", "z", "y", R, Dout, c.norm_eps, { dump = "norm" })
  return P
end

return M
