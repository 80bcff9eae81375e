/* sampler.h: the sampler loop over a variant's baked schedule: CFG batch in, guidance combine,
 * scheduler update, PAB table row per step, progress on stderr. Not here: the forward itself
 * (generated) or file handling (main.c). */
#ifndef DITC_SAMPLER_H
#define DITC_SAMPLER_H

#include "model.h"

typedef struct {
  int pab_on;          /* 1: the variant's baked PAB table; 0: compute everything */
  int progress;        /* 1: one line per step on stderr */
  float *latents;      /* optional [K, Bp, Cin, Tx, Hx, Wx]: z after every step */
  double *step_seconds;/* optional [K]: wall time of every step */
  int stop_before;     /* test hook: 1 + the step to stop at, as if this rank died (0: none) */
  int keep_nonfinite;  /* 1: run every step even after the latent held NaN/Inf */
  struct sampler_health *health; /* optional out: where NaN/Inf first appeared */
} sampler_opts;

/* Where the latent first held a NaN or Inf. Every rank holds the same latent, so every rank sees
 * it at the same step. On the CPU the latent is checked after every step; a device sampler keeps
 * the latent on the device, so there it is checked after every step only when the latents are
 * copied out (--save-steps), else once at the end (step_known 0). */
typedef struct sampler_health {
  int bad_step;      /* 0-based step, or -1: every value finite */
  int step_known;    /* 0: found in the final latent; the step is not known */
  int64_t bad_index; /* the first non-finite element of that latent */
} sampler_health;

/* The initial noise of --seed: counter-based N(0, 1) from seed (rng.h) into the sampler latent,
 * rounded to bf16 where the pipeline dtype is (upstream samples it in that dtype). */
void sampler_seed_noise(ditc_model *m, uint64_t seed);

/* Runs the prologue and every step on the noise already in the sampler latent (off_z). The
 * final latent stays at off_z. Stops after the first step whose latent holds NaN/Inf unless
 * keep_nonfinite (o->health says which). */
void sampler_run(ditc_model *m, const sampler_opts *o);

/* One forward call with the io buffers as loaded (model_load_forward), all modules computed. */
void sampler_forward_once(ditc_model *m);

/* PNDM's output ring at call i (state [7][Bp, latent]: guided output, ring [4], cur, acc):
 * slot[0] the ring buffer this call stores its output in; for a linear-multistep call slot[1..4]
 * the newest four after that store (newest first), else NULL. Counts the call in *n_ets when it
 * stores. Shared by the host update and the CUDA backend's. */
void sampler_pndm_slots(const ditc_variant *v, int i, float *state, int *n_ets, float *slot[5]);

/* Number of modules of `kind` a table row reuses and contains. */
void sampler_row_counts(const ditc_variant *v, const unsigned char *row, const char *kind, int *reused, int *total);

#endif
