/* run.c: a pipeline's start-up checks, its one arena and weight buffer, and its phases (run.h).
 * Every part runs exactly as its own binary would (network/main.c, denoiser/ranks.c): on a zeroed
 * arena, with the same loaders and the same sampler, so the pipeline's bytes equal those of the
 * chained binaries. Not here: the command line (main.c). */
#include "run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "config_check.h"
#include "inputs.h"
#include "options.h"
#include "ranks.h"

static const char *const PART_NAME[DITC_N_PARTS] = {"the text encoder", "the transformer", "the VAE"};

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double mib(int64_t b) { return (double)b / 1048576.0; }

/* The io entry `name` of v, which the generated part must have: a bug otherwise. */
static const ditc_io *io_of(const ditc_variant *v, const char *name, int dtype) {
  const ditc_io *e = ditc_io_find(v, name);
  DITC_CHECK(e != NULL && e->dtype == dtype);
  return e;
}

/* The VAE's one float input (its latents). */
static const ditc_io *vae_input(const ditc_variant *v) {
  const ditc_io *in = NULL;
  for (int i = 0; i < v->n_io; i++)
    if (v->io[i].role == DITC_IO_INPUT) {
      DITC_CHECK(in == NULL && v->io[i].dtype == DITC_DT_F32);
      in = &v->io[i];
    }
  DITC_CHECK(in != NULL);
  return in;
}

/* config.json of every part, against the descriptor; the text encoder's vocabulary, pad and EOS
 * ids into r (the tokenizer is checked against them). */
static ditc_status check_configs(pipeline_run *r, ditc_err *err) {
  for (int p = 0; p < DITC_N_PARTS; p++) {
    if (p == DITC_PART_TEXT && !r->c.tokenizer_dir) continue;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/config.json", r->c.dirs[p]) >= (int)sizeof path)
      return ditc_fail(err, DITC_EINVAL, "%s: the folder's path is too long", r->c.dirs[p]);
    json_doc doc;
    ditc_status s = config_read(path, &doc, err);
    if (!s) s = config_check(&r->c.pl->parts[p], &doc, path, PART_NAME[p], err);
    if (!s && p == DITC_PART_TEXT) {
      int64_t pad = 0, eos = 1; /* T5Config's defaults where the file leaves them out */
      s = config_int(&doc, path, "vocab_size", &r->vocab, err);
      if (!s && json_get(&doc.root, "pad_token_id")) s = config_int(&doc, path, "pad_token_id", &pad, err);
      if (!s && json_get(&doc.root, "eos_token_id")) s = config_int(&doc, path, "eos_token_id", &eos, err);
      if (!s && r->have_tok && r->tok.n_vocab > r->vocab)
        s = ditc_fail(err, DITC_EINVAL, "%s/spiece.model: the tokenizer has %d ids, but %s says vocab_size %lld: the "
                      "tokenizer does not belong to this text encoder", r->c.tokenizer_dir, r->tok.n_vocab, path,
                      (long long)r->vocab);
      if (!s && r->have_tok && (pad != r->tok.pad_id || eos != r->tok.eos_id))
        s = ditc_fail(err, DITC_EINVAL, "%s/spiece.model: the tokenizer's <pad> and </s> are ids %d and %d, but %s "
                      "says pad_token_id %lld and eos_token_id %lld: the tokenizer does not belong to this text encoder",
                      r->c.tokenizer_dir, (int)r->tok.pad_id, (int)r->tok.eos_id, path, (long long)pad, (long long)eos);
    }
    json_free(&doc);
    if (s) return s;
  }
  return DITC_OK;
}

/* Loads part p's weights unless they are loaded: resident, into its own region once; reloading, into
 * the shared buffer at its phase's start (the buffer then holds only p's). */
static ditc_status ensure_weights(pipeline_run *r, int p, ditc_err *err) {
  if (r->loaded & (1u << p)) return DITC_OK;
  const ditc_variant *v = r->c.pl->parts[p].v;
  const double t0 = now();
  if (r->c.progress)
    fprintf(stderr, "loading %s weights: %s (%s/%s, %.2f MiB)\n", PART_NAME[p] + 4, r->c.dirs[p], v->family, v->name,
            mib(v->weight_elems * 4));
  const int resident = r->c.pl->weights_mode == DITC_WEIGHTS_RESIDENT;
  if (!resident) r->loaded = 0; /* from here the shared buffer holds nobody's, until the load succeeds */
  ditc_status s = model_load_weights(&r->m[p], r->c.dirs[p], err);
  if (s) return s;
  r->loaded |= 1u << p;
  if (r->c.progress) fprintf(stderr, "  loaded in %.2f s\n", now() - t0);
  return DITC_OK;
}

/* The decode phase's progress line before each decoder call (the VAE's progress ops). */
static void decode_progress(void *ctx, int stage, int64_t i, int64_t n) {
  const pipeline_run *r = ctx;
  if (r->c.progress) fprintf(stderr, "decode: %s %lld of %lld\n", ditc_progress_name(stage), (long long)i + 1, (long long)n);
}

/* Zeroes part p's arena region: it starts as its own binary's fresh arena would. */
static void fresh_arena(pipeline_run *r, int p) { memset(r->arena, 0, (size_t)r->c.pl->parts[p].v->arena_bytes); }

ditc_status pipeline_open(pipeline_run *r, const pipeline_config *c, int save_steps, ditc_err *err) {
  memset(r, 0, sizeof *r);
  r->c = *c;
  const ditc_pipeline *pl = c->pl;
  ditc_status s = DITC_OK;
  if (pl->abi_version != DITC_ABI_VERSION)
    return ditc_fail(err, DITC_EINVAL, "pipeline %s was generated for ABI %d, this runtime is ABI %d", pl->name,
                     pl->abi_version, DITC_ABI_VERSION);
  if (c->tokenizer_dir) { /* the tokenizer first: the text encoder's config is checked against it */
    char path[4096];
    if (snprintf(path, sizeof path, "%s/spiece.model", c->tokenizer_dir) >= (int)sizeof path)
      return ditc_fail(err, DITC_EINVAL, "%s: the folder's path is too long", c->tokenizer_dir);
    if ((s = tok_load(&r->tok, path, err))) return s;
    r->have_tok = 1;
    r->kind = !strcmp(pl->tokenizer, "fast") ? TOK_FAST : TOK_SLOW;
    if (!(s = text_pipeline_find(pl->clean, &r->clean, err)) && !(s = text_cleaner_init(&r->cleaner, err)))
      r->have_cleaner = 1;
  }
  if (!s) s = check_configs(r, err);
  for (int p = 0; p < DITC_N_PARTS && !s; p++)
    if (p != DITC_PART_TEXT || c->tokenizer_dir) s = model_check_weights(pl->parts[p].v, c->dirs[p], err);
  if (s) {
    pipeline_close(r);
    return s;
  }
  /* the one arena: every phase at offset 0, the carried conditioning and latent after the largest */
  const ditc_denoiser *d = pl->parts[DITC_PART_DENOISE].v->denoiser;
  int64_t phase = 0, cond = 0, resident = 0, reload = 0;
  for (int p = 0; p < DITC_N_PARTS; p++) {
    const ditc_variant *v = pl->parts[p].v;
    if (v->arena_bytes > phase) phase = v->arena_bytes;
    r->weight_off[p] = resident / 4;
    resident += v->weight_elems * 4;
    if (v->weight_elems * 4 > reload) reload = v->weight_elems * 4;
  }
  cond = model_cond_bytes(pl->parts[DITC_PART_DENOISE].v);
  const int64_t latent = (int64_t)d->Bp * d->Cin * d->Tx * d->Hx * d->Wx * 4;
  const int64_t carried = (phase + 255) / 256 * 256;
  /* the generated plan and this count agree, or the descriptor is not this runtime's */
  DITC_CHECK(carried == pl->off_cond && cond == pl->cond_bytes && carried + cond == pl->off_latent &&
             latent == pl->latent_bytes && carried + cond + latent == pl->arena_bytes);
  r->arena_bytes = carried + cond + latent;
  r->weight_bytes = pl->weights_mode == DITC_WEIGHTS_RELOAD ? reload : resident;
  DITC_CHECK(r->weight_bytes == pl->weight_bytes);
  if (pl->weights_mode == DITC_WEIGHTS_RELOAD)
    for (int p = 0; p < DITC_N_PARTS; p++) r->weight_off[p] = 0;
  r->arena = aligned_alloc(256, (size_t)(r->arena_bytes + 255) / 256 * 256);
  r->weights = aligned_alloc(256, (size_t)(r->weight_bytes + 255) / 256 * 256);
  /* the denoiser's ranks: this process's arena is its rank's; thread ranks bring the others' now */
  const ditc_variant *den = pl->parts[DITC_PART_DENOISE].v;
  r->world = (d->cfg_parallel ? 2 : 1) * d->sp;
  r->rank = c->nccl ? c->nccl->rank : 0;
  r->rank_arenas = calloc((size_t)r->world, sizeof *r->rank_arenas);
  int alloc_failed = !r->rank_arenas;
  for (int g = 0; g < r->world && !alloc_failed; g++) {
    if (g == r->rank) r->rank_arenas[g] = r->arena;
    else if (!c->nccl) { /* a NCCL process runs its own rank only */
      r->rank_arenas[g] = aligned_alloc(256, (size_t)(den->host_bytes + 255) / 256 * 256);
      alloc_failed = !r->rank_arenas[g];
      r->rank_arena_bytes += den->host_bytes;
    }
  }
  if (save_steps) {
    r->latents = malloc((size_t)(latent * d->steps));
    r->input_ids = calloc(2 * (size_t)d->L, sizeof *r->input_ids);
  }
  if (!r->arena || !r->weights || alloc_failed || (save_steps && (!r->latents || !r->input_ids))) {
    pipeline_close(r);
    return ditc_fail(err, DITC_ENOMEM, "out of memory: %s/%s needs %.2f MiB of arena and %.2f MiB of weights "
                     "(plan.txt)", pl->family, pl->name, mib(r->arena_bytes), mib(r->weight_bytes));
  }
  memset(r->arena, 0, (size_t)r->arena_bytes);
  for (int p = 0; p < DITC_N_PARTS && !s; p++)
    s = model_init_view(&r->m[p], pl->parts[p].v, r->weights + r->weight_off[p], r->arena, err);
  for (int p = 0; p < DITC_N_PARTS && !s; p++) s = model_attach(&r->m[p], err);
  r->m[DITC_PART_DECODE].ex.progress = decode_progress;
  r->m[DITC_PART_DECODE].ex.progress_ctx = r;
  for (int p = 0; p < DITC_N_PARTS && !s && pl->weights_mode == DITC_WEIGHTS_RESIDENT; p++)
    if (p != DITC_PART_TEXT || c->tokenizer_dir) s = ensure_weights(r, p, err);
  if (s) pipeline_close(r);
  return s;
}

void pipeline_close(pipeline_run *r) {
  for (int p = 0; p < DITC_N_PARTS; p++)
    if (r->m[p].v) model_free(&r->m[p]);
  free(r->arena);
  free(r->weights);
  free(r->latents);
  free(r->input_ids);
  for (int g = 0; r->rank_arenas && g < r->world; g++)
    if (r->rank_arenas[g] != r->arena) free(r->rank_arenas[g]);
  free(r->rank_arenas);
  if (r->have_tok) tok_free(&r->tok);
  if (r->have_cleaner) text_cleaner_free(&r->cleaner);
  tok_scratch_free(&r->scratch);
  id_list_free(&r->ids);
  memset(r, 0, sizeof *r);
}

/* ---- text ------------------------------------------------------------------------------------ */

/* One text through the preprocessing, the tokenizer and the text encoder: its last_hidden_state
 * [1, L, Cc] into dst (fp32) and, if mask is not NULL, its attention mask [1, L] (int32). which
 * names the text in messages ("the prompt"). */
static ditc_status encode(pipeline_run *r, const char *text, size_t len, const char *which, float *dst,
                          int32_t *mask_out, ditc_err *err) {
  const ditc_model *m = &r->m[DITC_PART_TEXT];
  const ditc_variant *v = m->v;
  const ditc_io *ids = io_of(v, "input_ids", DITC_DT_I32), *mask = io_of(v, "attention_mask", DITC_DT_I32);
  const ditc_io *out = io_of(v, "last_hidden_state", DITC_DT_F32);
  const int64_t L = ids->shape[1];
  char *clean = NULL;
  size_t clean_len = 0;
  char msg[sizeof err->msg];
  ditc_status s = DITC_OK;
  if (r->clean == TEXT_PIPELINE_OPENSORA_V12) s = opensora_prompt_text(text, len, &text, &len, err);
  if (!s) s = text_preprocess(&r->cleaner, r->clean, text, len, &clean, &clean_len, err);
  if (!s) s = tok_encode(&r->tok, r->kind, clean, clean_len, &r->scratch, &r->ids, err);
  free(clean);
  if (s) {
    snprintf(msg, sizeof msg, "%s", err->msg);
    return ditc_fail(err, s, "%s: %s", which, msg);
  }
  fresh_arena(r, DITC_PART_TEXT);
  int32_t *row = (int32_t *)(void *)(m->arena + ids->off), *mrow = (int32_t *)(void *)(m->arena + mask->off);
  r->tokens = (int)tok_finish(&r->tok, r->kind, r->ids.p, r->ids.len, (size_t)L, row, mrow);
  for (int64_t k = 0; k < L; k++)
    if (row[k] < 0 || row[k] >= r->vocab)
      return ditc_fail(err, DITC_EINVAL, "%s: token %lld is id %d, outside the text encoder's vocabulary of %lld "
                       "(%s/config.json vocab_size; the tokenizer %s/spiece.model has %d): the tokenizer does not "
                       "belong to this text encoder", which, (long long)k, (int)row[k], (long long)r->vocab,
                       r->c.dirs[DITC_PART_TEXT], r->c.tokenizer_dir, r->tok.n_vocab);
  const ditc_backend_ops *be = ditc_backend();
  be->to_device((ditc_model *)m, ids->off, (size_t)ids->bytes);
  be->to_device((ditc_model *)m, mask->off, (size_t)mask->bytes);
  for (int p = 0; p < v->n_phases; p++) v->phases[p].run(&m->ex, NULL);
  be->to_host((ditc_model *)m, out->off, (size_t)out->bytes);
  const float *y = (const float *)(const void *)(m->arena + out->off);
  for (int64_t k = 0; k < out->bytes / 4; k++)
    if (!isfinite(y[k]))
      return ditc_fail(err, DITC_EINVAL, "%s: the text encoder's output holds %g at element %lld (the weights "
                       "overflow it)", which, (double)y[k], (long long)k);
  memcpy(dst, y, (size_t)out->bytes);
  if (mask_out) memcpy(mask_out, mrow, (size_t)L * 4);
  if (mask_out && r->input_ids) { /* the prompt's (not the negative's) */
    memcpy(r->input_ids, row, (size_t)L * 4);
    memcpy(r->input_ids + L, mrow, (size_t)L * 4);
  }
  return DITC_OK;
}

ditc_status pipeline_text(pipeline_run *r, const char *prompt, size_t len, const char *negative, size_t neg_len,
                          ditc_err *err) {
  const double t0 = now();
  ditc_status s = ensure_weights(r, DITC_PART_TEXT, err);
  const ditc_denoiser *d = r->c.pl->parts[DITC_PART_DENOISE].v->denoiser;
  const ditc_io *out = io_of(r->m[DITC_PART_TEXT].v, "last_hidden_state", DITC_DT_F32);
  DITC_CHECK(d->Bp == 1 && out->bytes == (int64_t)d->L * d->Cc * 4);
  /* the carried inputs in the DiT's order: the prompt's text and mask first, then the negative's */
  unsigned char *carried = r->arena + r->c.pl->off_cond;
  float *text[2] = {NULL, NULL};
  int32_t *mask = NULL;
  for (int i = 0, off = 0; i < d->n_inputs; off += (int)model_cond_input_bytes(d, &d->inputs[i]), i++) {
    if (d->inputs[i].role == DITC_IN_TEXT) text[d->inputs[i].half] = (float *)(void *)(carried + off);
    else mask = (int32_t *)(void *)(carried + off);
  }
  DITC_CHECK(text[0] != NULL && (text[1] != NULL) == (r->c.pl->negative != 0));
  if (!s) s = encode(r, prompt, len, "the prompt", text[0], mask, err);
  const int tokens = r->tokens;
  /* the negative's own mask is not carried: the DiT attends, in both halves, by the prompt's */
  if (!s && text[1]) s = encode(r, negative, neg_len, "the negative prompt", text[1], NULL, err);
  r->tokens = tokens;
  r->seconds[PHASE_TEXT] += now() - t0;
  if (!s && r->c.progress)
    fprintf(stderr, "text: %d tokens of %d%s, %.2f s\n", tokens, d->L, text[1] ? " (and the negative prompt)" : "",
            now() - t0);
  return s;
}

ditc_status pipeline_cond_file(pipeline_run *r, const char *path, ditc_err *err) {
  ditc_model *m = &r->m[DITC_PART_DENOISE];
  /* load into the DiT's own inputs, then keep them in the carried region as the text phase would */
  fresh_arena(r, DITC_PART_DENOISE);
  ditc_status s = model_load_cond(m, path, err);
  if (!s) model_get_cond(m, r->arena + r->c.pl->off_cond);
  return s;
}

/* ---- denoise --------------------------------------------------------------------------------- */

ditc_status pipeline_denoise(pipeline_run *r, const char *noise, uint64_t seed, ditc_err *err) {
  const double t0 = now();
  ditc_model *m = &r->m[DITC_PART_DENOISE];
  const ditc_variant *v = m->v;
  ditc_status s = ensure_weights(r, DITC_PART_DENOISE, err);
  if (s) return s;
  /* the carried conditioning sits after the largest phase: no rank's arena overlaps it */
  const options o = {.noise = noise, .seed = seed, .has_seed = !noise, .pab_on = r->c.pab_on, .quiet = !r->c.progress,
                     .save_steps = r->latents != NULL, .threads = r->c.threads, .ranks = r->c.nccl ? 0 : r->world,
                     .allow_nonfinite = r->c.allow_nonfinite, .comm_timeout = r->c.comm_timeout,
                     .cond_mem = r->arena + r->c.pl->off_cond, .final_out = (float *)(void *)(r->arena + r->c.pl->off_latent),
                     .latents_out = r->latents, .arenas = r->rank_arenas, .err_out = err};
  err->msg[0] = 0;
  if (run_ranks(&o, v, m->weights, r->c.nccl, "")) return DITC_EINVAL;
  r->seconds[PHASE_DENOISE] += now() - t0;
  return DITC_OK;
}

/* ---- decode ---------------------------------------------------------------------------------- */

ditc_status pipeline_decode(pipeline_run *r, ditc_err *err) {
  const double t0 = now();
  ditc_model *m = &r->m[DITC_PART_DECODE];
  const ditc_variant *v = m->v;
  ditc_status s = ensure_weights(r, DITC_PART_DECODE, err);
  if (s) return s;
  fresh_arena(r, DITC_PART_DECODE);
  const ditc_io *in = vae_input(v);
  DITC_CHECK(in->bytes == r->c.pl->latent_bytes);
  const ditc_backend_ops *be = ditc_backend();
  memcpy(m->arena + in->off, r->arena + r->c.pl->off_latent, (size_t)in->bytes);
  be->to_device(m, in->off, (size_t)in->bytes);
  for (int p = 0; p < v->n_phases; p++) v->phases[p].run(&m->ex, NULL);
  for (int i = 0; i < v->n_io; i++) {
    const ditc_io *e = &v->io[i];
    if (e->role != DITC_IO_OUTPUT) continue;
    be->to_host(m, e->off, (size_t)e->bytes);
    const float *x = (const float *)(const void *)(m->arena + e->off);
    for (int64_t k = 0; e->dtype == DITC_DT_F32 && !r->c.allow_nonfinite && k < e->bytes / 4; k++)
      if (!isfinite(x[k]))
        return ditc_fail(err, DITC_EINVAL, "the VAE's output '%s' holds %g at element %lld (the latent or its "
                         "weights overflow it); --allow-nonfinite writes it anyway", e->name, (double)x[k], (long long)k);
  }
  const ditc_io *f = io_of(v, "frames_u8", DITC_DT_U8);
  r->seconds[PHASE_DECODE] += now() - t0;
  if (r->c.progress)
    fprintf(stderr, "decode: %lld frames of %lldx%lld, %.2f s\n", (long long)f->shape[1], (long long)f->shape[2],
            (long long)f->shape[3], now() - t0);
  return DITC_OK;
}

st_out_tensor pipeline_latent(const pipeline_run *r, const char *name) {
  const ditc_io *z = io_of(r->c.pl->parts[DITC_PART_DENOISE].v, DITC_IO_LATENT, DITC_DT_F32);
  st_out_tensor t = {.name = name, .dtype = ST_F32, .ndim = z->ndim, .data = r->arena + r->c.pl->off_latent};
  for (int i = 0; i < z->ndim; i++) t.shape[i] = z->shape[i];
  return t;
}

st_out_tensor pipeline_frames(const pipeline_run *r) {
  return model_io_tensor(&r->m[DITC_PART_DECODE], "frames_u8", "frames_u8");
}

int pipeline_text_tensors(const pipeline_run *r, st_out_tensor *t) {
  const ditc_denoiser *d = r->c.pl->parts[DITC_PART_DENOISE].v->denoiser;
  int n = 0;
  if (r->input_ids && r->have_tok) {
    t[n++] = (st_out_tensor){.name = "input_ids", .dtype = ST_I32, .ndim = 2, .shape = {1, d->L}, .data = r->input_ids};
    t[n++] = (st_out_tensor){.name = "attention_mask", .dtype = ST_I32, .ndim = 2, .shape = {1, d->L},
                             .data = r->input_ids + d->L};
  }
  const unsigned char *carried = r->arena + r->c.pl->off_cond;
  for (int i = 0, off = 0; i < d->n_inputs; off += (int)model_cond_input_bytes(d, &d->inputs[i]), i++) {
    const ditc_input_spec *in = &d->inputs[i];
    if (in->role == DITC_IN_TEXT)
      t[n++] = (st_out_tensor){.name = in->name, .dtype = ST_F32, .ndim = 3, .shape = {d->Bp, d->L, d->Cc},
                               .data = (void *)(carried + off)};
    else
      t[n++] = (st_out_tensor){.name = in->name, .dtype = ST_I32, .ndim = 2, .shape = {d->Bp, d->L},
                               .data = (void *)(carried + off)};
  }
  return n;
}
