-- tests/models/toy-mlp.lua: a network that is not a denoiser (class ToyMLP, gen/families/toy_mlp.lua):
-- two linear layers and an RMSNorm with one phase and named io, as data. The tests generate it,
-- build it and check it against numpy (tests/network_test.sh). Not a real model.
return {
  family = "toy-mlp",
  class = "ToyMLP",
  symbol = "toy",
  config = { in_features = 24, hidden_features = 40, out_features = 16, norm_eps = 1e-6 },
  variants = {
    fixture = { rows = 6 },
    -- other widths from the same description: a row count of one, an odd width
    wide = { rows = 1, config = { in_features = 33, hidden_features = 7, out_features = 65 } },
  },
}
