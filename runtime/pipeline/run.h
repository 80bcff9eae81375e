/* run.h: one pipeline binary's run state and its phases (text -> denoise -> decode) over the one
 * arena and weight buffer that pipeline_open allocates before the first phase: the parts' models
 * are views of them (model_init_view), each phase starts on its part's zeroed arena region, and
 * only the DiT's conditioning and the latent cross phases, in the carried region the generated
 * descriptor places (ditc_pipeline). Reloaded weights are read at each phase's start; every
 * checkpoint and config.json is checked before the first phase. Not here: the command line,
 * output files and the summary (main.c). */
#ifndef DITC_PIPELINE_RUN_H
#define DITC_PIPELINE_RUN_H

#include <stdint.h>

#include "ditc_abi.h"
#include "model.h"
#include "sampler.h"
#include "text/clean.h"
#include "text/tokenizer.h"

struct ditc_comm;

enum { PHASE_TEXT, PHASE_DENOISE, PHASE_DECODE, PHASE_WRITE, N_PHASE_TIMES };

typedef struct {
  const ditc_pipeline *pl;
  const char *dirs[DITC_N_PARTS]; /* each part's folder (checkpoint and config.json) */
  const char *tokenizer_dir;      /* the folder of spiece.model; NULL: no text phase (--cond) */
  int progress;                   /* progress lines on stderr */
  int pab_on;
  int allow_nonfinite;
  int threads;                    /* OpenMP threads a rank (0: the default) */
  struct ditc_comm *nccl;         /* this process is one NCCL rank of a parallel variant; NULL: thread ranks */
  double comm_timeout;
} pipeline_config;

typedef struct {
  pipeline_config c;
  unsigned char *arena;              /* [arena_bytes], 256-aligned */
  float *weights;                    /* [weight_bytes / 4]: resident, every part's at its offset; reload, one part's */
  int64_t arena_bytes, weight_bytes; /* what was allocated (computed from the parts, = the plan's) */
  int64_t weight_off[DITC_N_PARTS];  /* each part's offset in weights (elements; 0 when reloading) */
  int world, rank;                   /* the denoiser's ranks (CFG x sequence-parallel) and this process's first */
  unsigned char **rank_arenas;       /* [world]: each global rank's denoise arena: the one arena for this
                                      * process's rank; thread ranks' others allocated at start-up */
  int64_t rank_arena_bytes;          /* what those others take */
  unsigned loaded;                   /* bit p: part p's weights are loaded */
  ditc_model m[DITC_N_PARTS];        /* views of arena and weights */
  tokenizer tok;
  int have_tok;
  tok_kind kind;
  text_pipeline clean;
  text_cleaner cleaner;
  int have_cleaner;
  tok_scratch scratch;
  id_list ids;
  int64_t vocab;                     /* the text encoder's vocab_size */
  float *latents;                    /* [K, latent] with --save-steps, else NULL */
  int32_t *input_ids;                /* [2, L]: the last prompt's ids and attention mask (--save-steps) */
  double seconds[N_PHASE_TIMES];     /* summed over every generation */
  int tokens;                        /* the last prompt's tokens (EOS included) */
} pipeline_run;

/* Checks every part's config.json and checkpoint, the tokenizer against the text encoder, then
 * allocates the arena, the weight buffer (and the --save-steps buffer) and loads resident weights.
 * On failure everything is freed. */
ditc_status pipeline_open(pipeline_run *r, const pipeline_config *c, int save_steps, ditc_err *err);
void pipeline_close(pipeline_run *r);

/* The text phase: prompt (and, where the family has one, the negative prompt) through the
 * family's preprocessing, the tokenizer and the text encoder into the carried conditioning. */
ditc_status pipeline_text(pipeline_run *r, const char *prompt, size_t len, const char *negative, size_t neg_len,
                          ditc_err *err);
/* The conditioning from a --cond file instead (people who bring their own encoder). */
ditc_status pipeline_cond_file(pipeline_run *r, const char *path, ditc_err *err);
/* The denoise phase on every rank (denoiser/ranks.c: thread ranks, or this process's NCCL rank):
 * the noise (--noise file, or seed) and the sampler; rank 0's final latent into the carried latent
 * (and every step's into r->latents). A failure whose line another rank prints leaves err empty. */
ditc_status pipeline_denoise(pipeline_run *r, const char *noise, uint64_t seed, ditc_err *err);
/* The decode phase: the carried latent through the VAE; its outputs stay in the arena
 * (pipeline_frames, pipeline_latent). */
ditc_status pipeline_decode(pipeline_run *r, ditc_err *err);

/* The carried latent [Bp, Cin, Tx, Hx, Wx] and the decoded frames_u8 [1, F, H, W, 3] (after
 * pipeline_decode, until the next phase), as output tensors. */
st_out_tensor pipeline_latent(const pipeline_run *r, const char *name);
st_out_tensor pipeline_frames(const pipeline_run *r);
/* What the text phase made for the last prompt: its input_ids and attention_mask [1, L] (int32),
 * and the DiT's conditioning inputs by their --cond names (prompt_embeds, mask, ...); fills t[0..]
 * and returns the count (at most 2 + DITC's inputs). */
int pipeline_text_tensors(const pipeline_run *r, st_out_tensor *t);

#endif
