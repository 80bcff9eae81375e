-- models/t5-v1.1.lua: the T5 v1.1 encoder (class T5EncoderModel, gen/families/t5.lua) as data: the
-- DeepFloyd/t5-v1_1-xxl config that Open-Sora 1.2 and Open-Sora-Plan v1.1 load (Latte-1 ships the
-- same architecture), checkpoint names exactly as transformers' (docs/upstream.md#t5), and named
-- variants. Not code: gen/ reads and validates this table. A variant may also come from an
-- upstream config.json: lua5.4 gen/main.lua --model models/t5-v1.1.lua --config config.json
-- --name NAME --seq-len L [--batch B].
return {
  family = "t5-v1.1",
  class = "T5EncoderModel",
  symbol = "t5",

  -- DeepFloyd/t5-v1_1-xxl config.json (relative_attention_max_distance: transformers' default,
  -- which that old file does not list)
  config = {
    vocab_size = 32128,
    d_model = 4096,
    d_kv = 64,
    d_ff = 10240,
    num_layers = 24,
    num_heads = 64,
    relative_attention_num_buckets = 32,
    relative_attention_max_distance = 128,
    layer_norm_epsilon = 1e-6,
    feed_forward_proj = "gated-gelu",
  },

  variants = {
    -- the pipelines' sequence lengths, one prompt a call (Open-Sora and Open-Sora-Plan: 300, Latte: 120)
    ["xxl-300"] = { seq_len = 300 },
    ["xxl-120"] = { seq_len = 120 },
    -- the golden fixture's tiny encoder (tests/golden/t5/config.json): 4 rows of 300 tokens a call
    fixture = {
      seq_len = 300, batch = 4,
      config = { vocab_size = 2176, d_model = 64, d_kv = 16, d_ff = 160, num_layers = 3, num_heads = 4 },
    },
  },
}
