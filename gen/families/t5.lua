-- t5.lua: the T5 v1.1 encoder (transformers' T5EncoderModel; docs/upstream.md#t5) as an op
-- program: token embedding, the relative position bias by offset (computed once, shared by every
-- block), then per block RMSNorm -> self-attention with bias and key mask (no scaling) -> residual,
-- RMSNorm -> gated GELU FFN -> residual, and the final RMSNorm. One phase (`encode`), io by name:
-- input_ids and attention_mask [B, L] in, last_hidden_state [B, L, C] out, B rows per call (a
-- file may hold any number). Kind "network": no sampler, no cache tables. In fp16 storage the
-- program takes the fp16 pipelines' mixed precision (M.fp16_precision). Not here: the tokenizer
-- (runtime/text/), op numerics (runtime/cpu/encoder.c, runtime/cuda/encoder.cu).
local nn = require("nn")
local Program = require("program")
local S = require("schema")

local M = {}

M.kind = "network"
M.class_names = { "T5EncoderModel", "T5ForConditionalGeneration", "T5Model", "t5" }

-- transformers' T5Config names (the fields the encoder reads)
M.config_fields = {
  vocab_size = S.int { min = 1, max = 1 << 24 },
  d_model = S.int { min = 1, max = 65536 },
  d_kv = S.int { min = 1, max = 4096 },
  d_ff = S.int { min = 1, max = 1 << 20 },
  num_layers = S.int { min = 1, max = 256 },
  num_heads = S.int { min = 1, max = 1024 },
  relative_attention_num_buckets = S.int { min = 4, max = 4096 },
  relative_attention_max_distance = S.int { min = 1, max = 1 << 20 },
  layer_norm_epsilon = S.num { gt = 0, lt = 1 },
  feed_forward_proj = S.str(),
  dense_act_fn = S.str(),
  is_gated_act = S.bool(),
  is_encoder_decoder = S.bool(),
  is_decoder = S.bool(),
  pad_token_id = S.int { min = 0, max = 1 << 24 },
  eos_token_id = S.int { min = 0, max = 1 << 24 },
  tie_word_embeddings = S.bool(),
}
M.config_required = { "vocab_size", "d_model", "d_kv", "d_ff", "num_layers", "num_heads",
  "relative_attention_num_buckets", "relative_attention_max_distance", "layer_norm_epsilon", "feed_forward_proj" }
-- PretrainedConfig and T5Config fields with no effect on the encoder's inference (dropout is the
-- identity in eval(); the decoder, generation and label settings do not reach the encoder)
M.config_json_ignored = {}
for _, k in ipairs({ "dropout_rate", "initializer_factor", "num_decoder_layers", "use_cache", "decoder_start_token_id",
  "bos_token_id", "sep_token_id", "add_cross_attention", "cross_attention_hidden_size", "chunk_size_feed_forward",
  "classifier_dropout", "bad_words_ids", "begin_suppress_tokens", "diversity_penalty", "do_sample", "early_stopping",
  "encoder_no_repeat_ngram_size", "exponential_decay_length_penalty", "finetuning_task", "forced_bos_token_id",
  "forced_eos_token_id", "id2label", "label2id", "length_penalty", "max_length", "min_length", "no_repeat_ngram_size",
  "num_beam_groups", "num_beams", "num_return_sequences", "output_attentions", "output_hidden_states", "output_scores",
  "prefix", "problem_type", "pruned_heads", "remove_invalid_values", "repetition_penalty", "return_dict",
  "return_dict_in_generate", "suppress_tokens", "task_specific_params", "temperature", "tf_legacy_loss",
  "tie_encoder_decoder", "tokenizer_class", "top_k", "top_p", "torchscript", "typical_p", "use_bfloat16",
  "n_positions", "gradient_checkpointing" }) do
  M.config_json_ignored[k] = true
end
M.config_json_metadata = { architectures = true, model_type = true, torch_dtype = true, transformers_version = true }
M.config_json_one_note = true -- the ignored fields above in one note, not one a line

-- a variant's own fields besides config: the tokens of a row, the rows one call runs
M.variant_fields = { seq_len = S.int { min = 1, max = 65536 }, batch = S.int { min = 1, max = 4096 } }
M.variant_required = { "seq_len" }
-- command-line settings of a variant from a config.json (gen/main.lua's --seq-len, --batch)
M.cli = { ["seq-len"] = "seq_len", batch = "batch" }

M.PHASES = { "encode" }
M.PHASE_DOC = { encode = "The encoder over B rows of L tokens: embedding, relative position bias, the blocks, final norm." }
M.DIM_DOC = {
  B = "rows (prompts) of one call", L = "tokens of a row", C = "d_model", H = "attention heads", D = "d_kv (head dim)",
  F = "d_ff", V = "vocabulary (embedding rows)", depth = "encoder blocks", nb = "relative-position buckets",
  md = "relative-position max distance",
}

function M.check_config(c, fail)
  local act = c.feed_forward_proj
  if act ~= nil and act ~= "gated-gelu" then
    fail("feed_forward_proj", string.format("%q is not supported: ditc builds T5 v1.1's gated-gelu FFN (T5 v1.0's relu "
      .. "is not built)", act))
  end
  if c.dense_act_fn ~= nil and c.dense_act_fn ~= "gelu_new" then
    fail("dense_act_fn", string.format("%q is not supported (gated-gelu uses gelu_new)", c.dense_act_fn))
  end
  if c.is_gated_act == false then fail("is_gated_act", "false is not supported (gated-gelu)") end
  if c.is_decoder then fail("is_decoder", "true: ditc builds the encoder") end
  if c.relative_attention_num_buckets and c.relative_attention_num_buckets % 4 ~= 0 then
    fail("relative_attention_num_buckets", "must be a multiple of 4 (half a direction, half of that exact)")
  end
end

function M.dims(v)
  local c = v.config
  return {
    B = v.batch or 1, L = v.seq_len, C = c.d_model, H = c.num_heads, D = c.d_kv, F = c.d_ff, V = c.vocab_size,
    depth = c.num_layers, nb = c.relative_attention_num_buckets, md = c.relative_attention_max_distance,
  }
end

-- The fp16 pipelines' precision (Latte-1, Open-Sora-Plan v1.1; spec A.7-A.8): a program in fp16
-- storage keeps every `DenseReluDense.wo` weight in fp32 (transformers' _keep_in_fp32_modules),
-- casts g*u to fp32 for it, and carries the residual stream in fp32 from block 0's FFN on; block
-- 0's attention residual, the one add while the stream is fp16, is followed by T5Block's clamp.
-- bf16 (Open-Sora: every weight bf16, no clamp) and fp32 (the CPU reference) keep one element
-- throughout.
function M.fp16_precision(P) return P.storage == "fp16" end

local function attn_prefix(i) return string.format("encoder.block.%d.layer.0", i) end
local function ff_prefix(i) return string.format("encoder.block.%d.layer.1", i) end

function M.build(v)
  local d, c = v.dims, v.config
  local P = Program.new(v.storage, v.fail_size, M.PHASES, M.PHASE_DOC)
  P:use_dims(d, M.DIM_DOC)
  local B, L, C, H, D, F = P:dim("B"), P:dim("L"), P:dim("C"), P:dim("H"), P:dim("D"), P:dim("F")
  local rows, HD, eps = B * L, H * D, c.layer_norm_epsilon
  P:buffer("input_ids", { B, L }, { kind = "io", role = "input", dtype = "i32", dims = "B, L", batched = true,
    range = { 0, d.V - 1 } })
  P:buffer("attention_mask", { B, L }, { kind = "io", role = "input", dtype = "i32", dims = "B, L", batched = true,
    range = { 0, 1 } })
  P:buffer("last_hidden_state", { B, L, C }, { kind = "io", role = "output", dims = "B, L, C", batched = true })
  P.residual = P:buffer("x", { B, L, C }, { dims = "B, L, C" })
  local x = P.residual

  P:weight("shared.weight", { d.V, C })
  P:tied_weight("encoder.embed_tokens.weight", "shared.weight", "tied to shared.weight: the same tensor")
  P:op("embedding", "shared", { out = { buf = x }, ids = { buf = "input_ids" }, table = { w = "shared.weight" }, R = rows,
    C = C }, { "input_ids" }, { x }, { dump = "hidden_states.0" })
  local rel = attn_prefix(0) .. ".SelfAttention.relative_attention_bias.weight"
  P:weight(rel, { d.nb, H })
  P:buffer("position_bias", { H, 2 * L - 1 }, { dtype = "f32", dims = "H, 2L-1" })
  P:op("rel_bias", "position_bias", { out = { buf = "position_bias" }, table = { w = rel }, L = L, H = H, nb = P:dim("nb"),
    max_dist = P:dim("md") }, {}, { "position_bias" }, { dump = "position_bias.by_offset" })

  local h = P:buffer("h", { B, L, C }, { dims = "B, L, C" })
  local q, k, vv = P:buffer("q", { B, L, HD }, { dims = "B, L, H*D" }), P:buffer("k", { B, L, HD }, { dims = "B, L, H*D" }),
    P:buffer("v", { B, L, HD }, { dims = "B, L, H*D" })
  local att, o = P:buffer("att", { B, L, HD }, { dims = "B, L, H*D" }), P:buffer("o", { B, L, C }, { dims = "B, L, C" })
  local g, u = P:buffer("g", { B, L, F }, { dims = "B, L, F" }), P:buffer("u", { B, L, F }, { dims = "B, L, F" })
  local fp16 = M.fp16_precision(P)
  local x32, g32, o32, any_inf -- the fp16 pipelines' fp32 tensors (M.fp16_precision)
  if fp16 then
    x32 = P:buffer("x.f32", { B, L, C }, { dtype = "f32", dims = "B, L, C" })
    g32 = P:buffer("g.f32", { B, L, F }, { dtype = "f32", dims = "B, L, F" })
    o32 = P:buffer("o.f32", { B, L, C }, { dtype = "f32", dims = "B, L, C" })
    any_inf = P:buffer("x.any_inf", { 1 }, { dtype = "i32", dims = "1" })
  end
  for i = 0, d.depth - 1 do
    local a, f = attn_prefix(i), ff_prefix(i)
    local first = i == 0 -- the fixture's names of block 0's parts
    local stream = (fp16 and i > 0) and x32 or x -- the residual stream this block reads
    nn.rms_norm(P, a .. ".layer_norm", stream, h, rows, C, eps, { dump = first and "block.0.attn_norm" })
    for _, part in ipairs({ { "q", q }, { "k", k }, { "v", vv } }) do
      nn.linear(P, a .. ".SelfAttention." .. part[1], h, part[2], rows, C, HD, { bias = false })
    end
    P:op("attention_bias", a .. ".SelfAttention.sdpa", { out = { buf = att }, q = { buf = q }, k = { buf = k },
      v = { buf = vv }, ld = HD, bias = { buf = "position_bias" }, mask = { buf = "attention_mask" }, B = B, L = L, H = H,
      D = D }, { q, k, vv, "position_bias", "attention_mask" }, { att })
    nn.linear(P, a .. ".SelfAttention.o", att, o, rows, HD, C, { bias = false, dump = first and "block.0.attn_out" })
    if stream == x32 then -- fp32 + fp16 -> fp32 (PyTorch's promotion); no clamp on an fp32 tensor
      P:op("add_f32_st", a .. ".residual", { out = { buf = x32 }, a = { buf = x32 }, b = { buf = o }, n = rows * C },
        { x32, o }, { x32 })
    elseif fp16 then -- block 0: the stream is still fp16, so T5Block clamps it (spec A.8)
      P:op("add", a .. ".residual", { out = { buf = x }, a = { buf = x }, b = { buf = o }, n = rows * C }, { x, o }, { x })
      P:op("clamp_fp16", a .. ".clamp", { x = { buf = x }, any_inf = { buf = any_inf }, n = rows * C }, { x },
        { x, any_inf }, { dump = "block.0.after_attn_residual", dump_buf = x })
    else
      P:op("add", a .. ".residual", { out = { buf = x }, a = { buf = x }, b = { buf = o }, n = rows * C }, { x, o }, { x },
        { dump = first and "block.0.after_attn_residual" })
    end
    nn.rms_norm(P, f .. ".layer_norm", stream, h, rows, C, eps, { dump = first and "block.0.ff_norm" })
    nn.linear(P, f .. ".DenseReluDense.wi_0", h, g, rows, C, F, { bias = false, act = "gelu_tanh",
      dump = first and "block.0.ff_gelu_wi0" })
    nn.linear(P, f .. ".DenseReluDense.wi_1", h, u, rows, C, F, { bias = false })
    P:op("mul", f .. ".DenseReluDense.gate", { out = { buf = g }, a = { buf = g }, b = { buf = u }, n = rows * F }, { g, u },
      { g })
    local out_name = i < d.depth - 1 and ("hidden_states." .. (i + 1)) or string.format("block.%d.out", i)
    if fp16 then -- g*u cast to wo's fp32, wo in fp32 with an fp32 output, added into the fp32 stream
      P:op("to_f32", f .. ".DenseReluDense.gate_f32", { out = { buf = g32 }, src = { buf = g }, n = rows * F }, { g },
        { g32 })
      nn.linear_f32(P, f .. ".DenseReluDense.wo", g32, o32, rows, F, C, { dump = first and "block.0.ff_out" })
      if first then -- x32 = f32(x) + ff: the stream turns fp32 here (ff + f32(x): the same fp32 sum)
        P:op("add_f32_st", f .. ".residual", { out = { buf = x32 }, a = { buf = o32 }, b = { buf = x }, n = rows * C },
          { o32, x }, { x32 }, { dump = out_name })
      else
        P:op("add_f32", f .. ".residual", { out = { buf = x32 }, a = { buf = x32 }, b = { buf = o32 }, n = rows * C },
          { x32, o32 }, { x32 }, { dump = out_name })
      end
    else
      nn.linear(P, f .. ".DenseReluDense.wo", g, o, rows, F, C, { bias = false, dump = first and "block.0.ff_out" })
      P:op("add", f .. ".residual", { out = { buf = x }, a = { buf = x }, b = { buf = o }, n = rows * C }, { x, o }, { x },
        { dump = out_name })
    end
  end
  nn.rms_norm(P, "encoder.final_layer_norm", fp16 and x32 or x, h, rows, C, eps, { dump = "hidden_states." .. d.depth })
  P:op("to_f32", "last_hidden_state", { out = { buf = "last_hidden_state" }, src = { buf = h }, n = rows * C }, { h },
    { "last_hidden_state" })
  return P
end

return M
