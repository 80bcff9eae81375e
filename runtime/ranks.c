/* ranks.c: a generation on one rank, on thread ranks of one process, or as one NCCL rank: each
 * rank loads the inputs into its arena, agrees on the tables, samples, and rank 0 writes the
 * output. Not here: the command line (main.c) or the collectives (comm*.c). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "model.h"
#include "provenance.h"
#include "ranks.h"
#include "rng.h"
#include "safetensors.h"
#include "sampler.h"

/* Synthetic conditioning for benchmarks without --cond: N(0, 0.5) text, every token valid. */
static void synthetic_cond(ditc_model *m) {
  const ditc_variant *v = m->v;
  for (int i = 0; i < v->n_inputs; i++) {
    const ditc_input_spec *in = &v->inputs[i];
    if (in->role == DITC_IN_TEXT) {
      float *y = (float *)(void *)(m->arena + in->off);
      rng_normal(y, (int64_t)v->Bp * v->L * v->Cc, 12345u + (uint64_t)i);
      for (int64_t k = 0; k < (int64_t)v->Bp * v->L * v->Cc; k++) y[k] *= 0.5f;
    } else {
      int32_t *mask = (int32_t *)(void *)(m->arena + in->off);
      for (int64_t k = 0; k < (int64_t)v->Bp * v->L; k++) mask[k] = 1;
    }
  }
}

/* ---- one rank of a generation ---------------------------------------------------------------- */

typedef struct {
  const options *o;
  const ditc_variant *v;
  const float *weights;
  ditc_comm *comm;     /* sequence-parallel group; NULL: a single rank */
  int rank;            /* in that group */
  ditc_comm *cfg_comm; /* CFG-parallel pair; NULL without CFG parallelism */
  int cfg_rank;
  int failed;
  ditc_err err;
} rank_job;

/* A 64-bit hash of everything every rank must agree on (PAB table, schedule, variant). */
static uint64_t tables_hash(const ditc_variant *v) {
  uint64_t h = 0xcbf29ce484222325ull;
  const unsigned char *parts[] = {v->pab_table, (const unsigned char *)v->coef, (const unsigned char *)v->tau,
                                  (const unsigned char *)v->a2a_per_step, (const unsigned char *)v->inputs_hash};
  const size_t sizes[] = {(size_t)v->steps * (size_t)v->n_modules, (size_t)v->steps * 4 * sizeof(float),
                          (size_t)v->steps * sizeof(int), (size_t)v->steps * sizeof(unsigned short),
                          strlen(v->inputs_hash)};
  for (int p = 0; p < 5; p++)
    for (size_t i = 0; i < sizes[p]; i++) h = (h ^ parts[p][i]) * 0x100000001b3ull;
  return h;
}

/* Test hooks (documented in tests/dsp.sh): DITC_TEST_TABLE_SKEW=r perturbs rank r's table hash;
 * DITC_TEST_STOP_RANK=r:k makes rank r stop before step k, as if it died. */
static int env_rank_hook(const char *name, int rank, int *arg) {
  const char *e = getenv(name);
  if (!e) return 0;
  int r = -1, k = 0;
  if (sscanf(e, "%d:%d", &r, &k) < 1) return 0;
  if (arg) *arg = k;
  return r == rank;
}

static void *rank_main(void *arg) {
  rank_job *job = arg;
  const options *o = job->o;
  const ditc_variant *v = job->v;
  ditc_err *err = &job->err;
  ditc_model m;
  job->failed = 1;
  if (model_init_rank(&m, v, job->weights, job->rank, job->comm, job->cfg_rank, job->cfg_comm, err)) return NULL;
  const int global = job->cfg_rank * v->sp + job->rank;
  uint64_t h = tables_hash(v);
  if (env_rank_hook("DITC_TEST_TABLE_SKEW", global, NULL)) h ^= 1;
  if ((job->comm && comm_check_agree(job->comm, h, "the PAB/sampler tables hash", err)) ||
      (job->cfg_comm && comm_check_agree(job->cfg_comm, h, "the PAB/sampler tables hash", err))) {
    model_free(&m);
    return NULL;
  }
  if (o->cond) {
    if (model_load_cond(&m, o->cond, err)) goto out;
  } else synthetic_cond(&m);
  const int64_t latent = (int64_t)v->Bp * v->Cin * v->Tx * v->Hx * v->Wx;
  if (o->noise) {
    if (model_load_noise(&m, o->noise, err)) goto out;
  } else {
    float *z = (float *)(void *)(m.arena + v->off_z);
    rng_normal(z, latent, (uint64_t)o->seed);
    if (!strcmp(v->dtype, "bf16")) /* upstream samples the initial noise in the pipeline dtype */
      for (int64_t i = 0; i < latent; i++) {
        uint32_t b;
        memcpy(&b, &z[i], 4);
        b = (b + 0x7fffu + ((b >> 16) & 1u)) & 0xffff0000u;
        memcpy(&z[i], &b, 4);
      }
  }
  const int writer = global == 0;
  if (o->bench) {
    job->failed = bench(&m, writer);
    goto out;
  }
  float *latents = NULL;
  if (o->save_steps && writer) {
    latents = malloc((size_t)(latent * v->steps) * sizeof(float));
    if (!latents) {
      ditc_fail(err, DITC_ENOMEM, "out of memory for --save-steps (%lld floats)", (long long)(latent * v->steps));
      goto out;
    }
  }
  if (!o->quiet && writer)
    fprintf(stderr, "%s/%s: %d steps, PAB %s, arena %lld bytes%s\n", v->family, v->name, v->steps,
            o->pab_on ? "on" : "off", (long long)v->arena_bytes, v->sp > 1 ? " per rank" : "");
  /* collectives' buffers before the step loop: all-to-all and gathers receive at most this */
  const size_t most = (size_t)(v->a2a_bytes > v->gather_bytes ? v->a2a_bytes : v->gather_bytes) * 2 + 4096;
  if (job->comm && job->comm->reserve) job->comm->reserve(job->comm, most);
  if (job->cfg_comm && job->cfg_comm->reserve)
    job->cfg_comm->reserve(job->cfg_comm, 2 * (size_t)v->B * v->Cout * v->Tx * v->Hx * v->Wx * sizeof(float));
  int stop = 0;
  if (env_rank_hook("DITC_TEST_STOP_RANK", global, &stop)) stop += 1;
  else stop = 0;
  sampler_health health;
  sampler_opts so = {.pab_on = o->pab_on, .progress = !o->quiet && writer, .latents = latents, .stop_before = stop,
                     .keep_nonfinite = o->allow_nonfinite, .health = &health};
  sampler_run(&m, &so);
  if (job->comm && o->comm_stats)
    fprintf(stderr, "comm: rank %d: %llu all-to-alls, %llu bytes sent; %llu all_gathers, %llu bytes sent\n",
            global, (unsigned long long)job->comm->a2a_calls, (unsigned long long)job->comm->a2a_bytes,
            (unsigned long long)job->comm->gather_calls, (unsigned long long)job->comm->gather_bytes);
  if (job->cfg_comm && o->comm_stats)
    fprintf(stderr, "comm: rank %d: CFG pair: %llu all_gathers, %llu bytes sent\n", global,
            (unsigned long long)job->cfg_comm->gather_calls, (unsigned long long)job->cfg_comm->gather_bytes);
  if (writer && health.bad_step >= 0 && !o->allow_nonfinite) {
    const int i = health.bad_step;
    if (health.step_known)
      ditc_fail(err, DITC_EINVAL, "the latent after step %d/%d (t %.3f) holds NaN/Inf (first at element %lld); "
                "nothing written (--allow-nonfinite writes it anyway)", i + 1, v->steps, (double)v->t_sched[i],
                (long long)health.bad_index);
    else
      ditc_fail(err, DITC_EINVAL, "the final latent holds NaN/Inf (first at element %lld; this backend checks "
                "each step only with --save-steps); nothing written (--allow-nonfinite writes it anyway)",
                (long long)health.bad_index);
    free(latents);
    goto out;
  }
  if (writer && health.bad_step >= 0 && !o->quiet)
    fprintf(stderr, "warning: the latent holds NaN/Inf from step %d on (written: --allow-nonfinite)\n",
            health.bad_step + 1);
  if (writer) {
    st_out_tensor t[2] = {
        {.name = "final", .dtype = ST_F32, .ndim = 5, .shape = {v->Bp, v->Cin, v->Tx, v->Hx, v->Wx},
         .data = m.arena + v->off_z},
        {.name = "latents", .dtype = ST_F32, .ndim = 6, .shape = {v->steps, v->Bp, v->Cin, v->Tx, v->Hx, v->Wx},
         .data = latents},
    };
    provenance prov;
    provenance_make(&prov, v, o, "sample");
    if (st_write_meta(o->out, t, latents ? 2 : 1, prov.meta, prov.n, err)) {
      free(latents);
      goto out;
    }
  }
  free(latents);
  job->failed = 0;
out:
  model_free(&m);
  return NULL;
}

/* Runs the generation on one rank, on thread ranks (--ranks N), or as one NCCL rank (nccl). The
 * world is (1 or 2 CFG halves) x sp ranks; global rank = cfg_rank * sp + rank. */
int run_ranks(const options *o, const ditc_variant *v, const float *weights, ditc_comm *nccl,
                     const char *prog) {
  ditc_err err = {{0}};
  const int cfgp = v->cfg_parallel ? 2 : 1, world = cfgp * v->sp;
  const int P = nccl ? nccl->size : o->ranks ? o->ranks : 1;
  if (P != world) {
    fprintf(stderr, "%s: error: %s/%s is built for %d rank%s (%d CFG x %d sequence-parallel), not %d (%s)\n", prog,
            v->family, v->name, world, world == 1 ? "" : "s", cfgp, v->sp, P, nccl ? "WORLD_SIZE" : "--ranks");
    if (nccl) nccl->destroy(nccl);
    return 1;
  }
  if (nccl) { /* split the world into the sequence-parallel group and the CFG pair */
    const int g = nccl->rank;
    rank_job job = {.o = o, .v = v, .weights = weights, .comm = nccl, .rank = g % v->sp, .cfg_rank = g / v->sp};
    if (cfgp > 1) {
      job.comm = v->sp > 1 ? comm_nccl_split(nccl, g / v->sp, g % v->sp, &err) : NULL;
      job.cfg_comm = comm_nccl_split(nccl, g % v->sp, g / v->sp, &err);
      if ((v->sp > 1 && !job.comm) || !job.cfg_comm) return fprintf(stderr, "%s: error: %s\n", prog, err.msg), 1;
    }
    rank_main(&job);
    if (job.failed) fprintf(stderr, "%s: error: %s\n", prog, job.err.msg);
    return job.failed;
  }
  if (world == 1) {
    rank_job job = {.o = o, .v = v, .weights = weights};
    rank_main(&job);
    if (job.failed) fprintf(stderr, "%s: error: %s\n", prog, job.err.msg);
    return job.failed;
  }
  ditc_comm **sp_comms[2] = {NULL, NULL};
  for (int c = 0; c < cfgp && v->sp > 1; c++)
    if (!(sp_comms[c] = comm_threads_create(v->sp, o->comm_timeout, &err)))
      return fprintf(stderr, "%s: error: %s\n", prog, err.msg), 1;
  ditc_comm ***pairs = calloc((size_t)v->sp, sizeof *pairs);
  DITC_CHECK(pairs != NULL);
  for (int s = 0; s < v->sp && cfgp > 1; s++)
    if (!(pairs[s] = comm_threads_create(2, o->comm_timeout, &err)))
      return fprintf(stderr, "%s: error: %s\n", prog, err.msg), 1;
  rank_job *jobs = calloc((size_t)world, sizeof *jobs);
  pthread_t *tid = calloc((size_t)world, sizeof *tid);
  DITC_CHECK(jobs && tid);
  for (int g = 0; g < world; g++) {
    const int c = g / v->sp, s = g % v->sp;
    jobs[g] = (rank_job){.o = o, .v = v, .weights = weights, .rank = s, .cfg_rank = c,
                         .comm = v->sp > 1 ? sp_comms[c][s] : NULL, .cfg_comm = cfgp > 1 ? pairs[s][c] : NULL};
    DITC_CHECK(pthread_create(&tid[g], NULL, rank_main, &jobs[g]) == 0);
  }
  int rc = 0;
  for (int g = 0; g < world; g++) {
    pthread_join(tid[g], NULL);
    if (jobs[g].failed && !rc) {
      fprintf(stderr, "%s: error: %s\n", prog, jobs[g].err.msg);
      rc = 1;
    }
  }
  for (int c = 0; c < 2; c++)
    if (sp_comms[c]) sp_comms[c][0]->destroy(sp_comms[c][0]), free(sp_comms[c]);
  for (int s = 0; s < v->sp; s++)
    if (pairs[s]) pairs[s][0]->destroy(pairs[s][0]), free(pairs[s]);
  free(pairs);
  free(jobs);
  free(tid);
  return rc;
}
