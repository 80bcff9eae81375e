/* ditc_abi.h: the one versioned interface between generated code (out/<family>/<variant>/) and
 * the runtime. A variant exports one `const ditc_variant <symbol>_variant`; the runtime reads
 * its weight manifest, arena plan and io table (tensors by name, role and shape), calls its
 * generated functions by phase name, and for a denoiser its dims and baked sampler and PAB
 * tables (the prologue phase once per generation, the step phase once per model call).
 * Dimension vocabulary: runtime/README.md. Not here: op signatures (runtime/cpu/ops.h). */
#ifndef DITC_ABI_H
#define DITC_ABI_H

#include <stdint.h>

#define DITC_ABI_VERSION 8

/* A PAB table cell: low 2 bits the op, the rest the cache slot index of the module. */
enum { DITC_PAB_COMPUTE = 0, DITC_PAB_WRITE = 1, DITC_PAB_REUSE = 2 };
#define DITC_PAB_OP(cell) ((cell) & 3)
#define DITC_PAB_SLOT(cell) ((cell) >> 2)

/* A checkpoint tensor the variant reads: name exactly as upstream, shape, its offset (in
 * elements of the storage type) in the backend's weight buffer, and the element it is kept in
 * there: DITC_WT_ST, the build's storage, or DITC_WT_F32, fp32 in any build (T5's `wo` in the
 * fp16 pipelines), which takes 4 / st_bytes storage elements an element. The host's copy
 * (model.h) is fp32 either way, one float per storage element at the same offsets; the backend
 * converts each tensor into its own element. */
enum { DITC_WT_ST = 0, DITC_WT_F32 = 1 };
typedef struct {
  const char *name;
  int ndim;
  int64_t shape[5];
  int64_t offset;
  int64_t elems;
  int dtype; /* DITC_WT_* */
} ditc_weight_spec;

/* The io table: every tensor the runtime writes into or reads out of the arena, by name (the
 * program's buffer name), role, element type and shape. input: the runtime writes it before a
 * call; output: it reads it after one; state: it lives across calls (the sampler's latent and its
 * history). batched: the leading dim is the rows of one call, and a file may hold any number of
 * rows (the runtime runs the phases once per shape[0] rows). An I32 input holds values in
 * [lo, hi] (lo > hi: any int32), which the loader checks. */
enum { DITC_IO_INPUT = 0, DITC_IO_OUTPUT = 1, DITC_IO_STATE = 2 };
enum { DITC_DT_F32 = 0, DITC_DT_I32 = 1, DITC_DT_U8 = 2 }; /* U8: outputs only (a decoder's video frames) */
#define DITC_IO_MAX_DIMS 8
typedef struct {
  const char *name;
  int role;                        /* DITC_IO_* */
  int dtype;                       /* DITC_DT_* */
  int ndim;
  int64_t shape[DITC_IO_MAX_DIMS];
  const char *dims;                /* the shape in the dimension vocabulary, e.g. "Bp, Cin, Tx, Hx, Wx" */
  int64_t off, bytes;              /* arena byte offset and size */
  int batched;
  int64_t lo, hi;
} ditc_io;

/* A phase of the generated code: a function over the arena that the runtime calls by name (a
 * denoiser has "prologue", once per generation, and "step", once per model call with its PAB
 * row; an encoder has one phase; a chunked decoder one called per chunk). row: the phase's table
 * row, or NULL. */
typedef struct ditc_exec ditc_exec;
typedef void (*ditc_phase_fn)(const ditc_exec *ex, const unsigned char *row);
typedef struct ditc_phase {
  const char *name;
  ditc_phase_fn run;
} ditc_phase;
#define DITC_PHASE_PROLOGUE "prologue"
#define DITC_PHASE_STEP "step"

/* A conditioning input read from the --cond file into the arena. */
enum { DITC_IN_TEXT = 0, DITC_IN_MASK = 1 };
typedef struct {
  const char *name; /* tensor name in the file */
  int role;         /* TEXT: float [Bp, L, Cc] (or [Bp, 1, L, Cc]); MASK: 0/1 [Bp, L] -> int32 */
  int half;         /* TEXT: 0 = the cond rows, 1 = the uncond rows of a --forward fixture's batch */
  int optional;     /* MASK only: when absent every token is valid */
  int64_t off;      /* arena byte offset */
} ditc_input_spec;

/* Samplers; the per-step coefficients coef[K][4] mean:
 *   RFLOW: {dt};  DDIM: {sqrt(1-a_t), sqrt(a_t), sqrt(a_prev), sqrt(1-a_prev)};
 *   PNDM: {sample_coeff, a_prev - a_t, denom} of diffusers' _get_prev_sample, and mode[K]
 *   0..3 = Runge-Kutta call c % 4, 4 = linear multistep. */
enum { DITC_SAMPLER_RFLOW = 0, DITC_SAMPLER_DDIM = 1, DITC_SAMPLER_PNDM = 2 };

struct ditc_dump;
struct ditc_comm;

/* What generated code runs against: the weight buffer, the planned arena, this rank and its
 * communicator (sequence-parallel variants; NULL when sp = 1), and an optional
 * intermediate-dump sink (only used when built with DITC_DUMP_ENABLED). */
struct ditc_exec {
  const void *weights;        /* weight_elems storage elements (fp32 on the CPU backend) */
  unsigned char *arena;
  int rank;                   /* in the sequence-parallel group */
  struct ditc_comm *comm;     /* the sequence-parallel group */
  int cfg_rank;               /* CFG parallelism: which half of the CFG batch this rank runs */
  struct ditc_comm *cfg_comm; /* the two ranks sharing a sequence-parallel rank (or NULL) */
  struct ditc_dump *dump;
  void *backend;              /* the device backend's context (CUDA: stream and cuBLAS handle) */
  /* optional: called by a decoder's progress ops before each of its n calls of the decoder
   * (stage DITC_PROGRESS_*, call i of n), with progress_ctx; NULL: no progress */
  void (*progress)(void *ctx, int stage, int64_t i, int64_t n);
  void *progress_ctx;
};

/* What a decoder's progress op announces: a temporal chunk (Open-Sora's temporal VAE, Latte's
 * chunks), a 2-D decoder call on a few frames (Open-Sora's spatial VAE), a tile of a tiled decode
 * (Open-Sora-Plan). */
enum { DITC_PROGRESS_CHUNK = 0, DITC_PROGRESS_FRAMES = 1, DITC_PROGRESS_TILE = 2 };
/* A stage's words in a progress line ("temporal chunk", "2-D decoder call", "tile"; runtime/core/model.c). */
const char *ditc_progress_name(int stage);

/* The denoiser part of a variant (NULL for a network that is not one: an encoder, a decoder):
 * the dims the sampler and the input loaders read, the baked sampler and cache tables, sequence
 * parallelism, and the denoiser's io buffers as offsets. */
typedef struct ditc_denoiser {
  /* dims: B = the batch one rank runs (2 * Bp with CFG; Bp under CFG parallelism), latent
   * [Bp, Cin, Tx, Hx, Wx], model output [2 * Bp, Cout, Tx, Hx, Wx], text [Bp, L, Cc] */
  int Bp, B, Cin, Cout, Tx, Hx, Wx, L, Cc;

  /* sampler, one entry per model call (step) */
  const char *sampler;
  int sampler_kind;           /* DITC_SAMPLER_* */
  int steps;                  /* K model calls */
  float cfg_scale;
  int cond_first;             /* CFG batch order: 1 = [cond; uncond], 0 = [uncond; cond] */
  const float *t_sched;       /* [K] sampler timestep (fp32) */
  const float *t_embed;       /* [K] value fed to the timestep embedder */
  const float *coef;          /* [K][4] update coefficients, see DITC_SAMPLER_* */
  const unsigned char *mode;  /* [K] PNDM phase */
  const unsigned char *update;/* [K] 0: the step's update is discarded (RFLOW x_mask False) */
  const int *tau;             /* [K] int timestep PAB sees */
  int n_state;                /* sampler state: n_state latent-sized buffers at off_state */

  /* PAB: n_modules broadcastable modules in execution order; table [K][n_modules] */
  int n_modules;
  const char *const *module_names;
  const char *const *module_kinds; /* [n_modules] the module's kind: one of the family's declared cache
                                    * kinds (e.g. "spatial", "temporal", "cross") or "mlp" */
  const double *module_flops;      /* [n_modules] FLOPs one compute of the module costs */
  double step_flops;               /* FLOPs of one all-compute step */
  const unsigned char *pab_table;
  int n_patterns;                  /* distinct rows of the table */
  const unsigned char *pab_pattern;/* [K] the row's pattern, 0 .. n_patterns-1 (first appearance) */

  /* sequence parallelism: sp ranks; per step the all-to-alls a rank runs and the bytes one
   * all-to-all sends to the other ranks (the generator's communication schedule) */
  int sp;
  int cfg_parallel;                   /* 1: the CFG batch is split over 2 x sp ranks */
  const unsigned short *a2a_per_step; /* [K] */
  int64_t a2a_bytes;                  /* per all-to-all, per rank */
  int64_t gather_bytes;               /* per step (the final all_gather), per rank */

  /* the denoiser's io buffers as offsets (the io table has them by name too) */
  int64_t off_x, off_t, off_out, off_z, off_state;

  /* conditioning inputs (--cond), and the tensor names of a --forward fixture (fwd_mask may
   * be NULL: no mask in the fixture) */
  int n_inputs;
  const ditc_input_spec *inputs;
  const char *fwd_x, *fwd_t, *fwd_text, *fwd_mask;

  const char *schedule_text;  /* schedule.txt, for --print-schedule */
} ditc_denoiser;

/* A generated variant: what every network has (weights, arena plan, io table, phases), and
 * the denoiser part where the family has one. */
typedef struct {
  int abi_version;
  const char *family, *name, *symbol, *dtype, *inputs_hash;
  const char *kind;           /* the family's kind: "denoiser" or "network" */

  /* memory and weights: storage is the element of activations, caches and weights ("fp32" on
   * the CPU backend; a CUDA build's DITC_STORAGE), st_bytes its size; the CUDA backend's
   * cuBLASLt workspace is a persistent arena buffer (0 bytes elsewhere) */
  const char *storage;
  int st_bytes;
  int64_t arena_bytes;
  int64_t host_bytes;         /* the arena's first bytes the host holds: all of it on the CPU; on
                                 CUDA up to the end of the last io buffer (the rest is device-only) */
  int64_t off_workspace, workspace_bytes;
  int64_t weight_elems;
  int n_weights;
  const ditc_weight_spec *weights;
  /* tensors a checkpoint may hold besides the manifest, checked by name and shape and not loaded
   * (a tied copy: T5's encoder.embed_tokens.weight of shared.weight); offset -1 */
  int n_skipped;
  const ditc_weight_spec *skipped;
  /* name prefixes of tensors a checkpoint may hold that the variant ignores unread (a VAE
   * checkpoint's encoder side: "encoder.", "quant_conv.") */
  int n_ignored;
  const char *const *ignored;

  /* the io table, by name */
  int n_io;
  const ditc_io *io;

  /* the generated functions, one per phase, by name (a denoiser: DITC_PHASE_PROLOGUE, _STEP) */
  int n_phases;
  const struct ditc_phase *phases;

  const ditc_denoiser *denoiser; /* NULL: not a denoiser */

  /* a decoder of video: its U8 output "frames_u8" [B, F, H, W, 3] plays at video_fps frames a
   * second (the pipeline's); 0: the network makes no video */
  int video_fps;
} ditc_variant;

/* A whole text-to-video pipeline (gen/main.lua --pipeline or --model-dir): three generated parts,
 * each a variant above, run as the phases text -> denoise -> decode on one arena, where only the
 * DiT's conditioning and the latent cross phases (runtime/pipeline/). */
enum { DITC_PART_TEXT = 0, DITC_PART_DENOISE = 1, DITC_PART_DECODE = 2, DITC_N_PARTS = 3 };
enum { DITC_WEIGHTS_RESIDENT = 0, DITC_WEIGHTS_RELOAD = 1 };

/* A leaf of the config.json a part was generated from: its path ("a.b" in nested objects) and
 * its value as canonical JSON (gen/pipeline/pipeline.lua's canon; runtime/pipeline/config_check.c
 * writes a run-time file's the same way). */
typedef struct {
  const char *path, *value;
} ditc_config_field;

typedef struct {
  const ditc_variant *v;
  const char *folder;              /* its folder under --model-dir, as the released repository lays it out */
  int n_fields;                    /* the config.json leaves a run-time config.json must repeat (0: the */
  const ditc_config_field *fields; /* part came from its description: no config.json was read) */
  int n_skip;                      /* top-level fields the check skips: metadata and fields */
  const char *const *skip;         /* upstream reads but that do not affect inference */
  int n_class_names;               /* what model_type, _class_name or architectures[0] may say */
  const char *const *class_names;
  int64_t arena_bytes, weight_bytes; /* the plan's: this part's arena and its weights */
} ditc_pipeline_part;

typedef struct {
  int abi_version;
  const char *family, *name, *inputs_hash;
  ditc_pipeline_part parts[DITC_N_PARTS];
  const char *tokenizer_folder;    /* the folder of spiece.model under --model-dir */
  const char *tokenizer;           /* "fast" (T5TokenizerFast) or "slow" (T5Tokenizer) */
  const char *clean;               /* the prompt preprocessing (text_pipeline_find's names) */
  int negative;                    /* 1: the DiT's uncond half is a T5-encoded negative prompt */
  const char *negative_default;    /* its default ("" for Latte-1) */
  int weights_mode;                /* DITC_WEIGHTS_* */
  int fps;                         /* the video's frame rate */
  int64_t arena_bytes;             /* one arena: every phase at offset 0, then the carried tensors */
  int64_t off_cond, cond_bytes;    /* the DiT's conditioning inputs, in the order of its inputs[] */
  int64_t off_latent, latent_bytes;/* the latent [Bp, Cin, Tx, Hx, Wx], fp32 */
  int64_t weight_bytes;            /* resident: every part's; reload: the largest part's */
  const char *plan_text;           /* plan.txt */
} ditc_pipeline;

/* The pipeline a pipeline binary was built for (defined by the generated pipeline.c). */
const ditc_pipeline *ditc_pipeline_get(void);

/* The variant a binary was built for (defined by the generated entry.c). */
const ditc_variant *ditc_variant_get(void);

/* The names of a denoiser's io tensors (gen/families/stdit3.lua, gen/families/latte.lua, gen/families/dit_layers.lua declare
 * them): the model's input latents and timesteps, its output, the sampler's latent. */
#define DITC_IO_X "in.x"
#define DITC_IO_T "in.t"
#define DITC_IO_OUT "out"
#define DITC_IO_LATENT "sampler.z"

/* The phase of that name's function, or NULL (runtime/core/model.c). */
ditc_phase_fn ditc_phase_find(const ditc_variant *v, const char *name);

/* The io table's entry of that name, or NULL (runtime/core/model.c). */
const ditc_io *ditc_io_find(const ditc_variant *v, const char *name);

/* Dump hook for intermediates; compiled in only with -DDITC_DUMP_ENABLED. */
void ditc_dump_tensor(const ditc_exec *ex, const char *name, const void *data, int ndim,
                      const int64_t *shape);
#ifdef DITC_DUMP_ENABLED
#define DITC_DUMP(ex, name, ptr, ndim, ...)                            \
  do {                                                                 \
    const int64_t ditc_dump_shape_[] = {__VA_ARGS__};                  \
    ditc_dump_tensor((ex), (name), (ptr), (ndim), ditc_dump_shape_);   \
  } while (0)
#else
#define DITC_DUMP(ex, name, ptr, ndim, ...) ((void)0)
#endif

#endif
