/* ranks.c: a generation on one rank, on thread ranks of one process, or as one NCCL rank: each
 * rank loads the inputs into its arena, the whole world agrees once that every rank did and
 * runs the same tables (comm_agree), the ranks sample, and rank 0 writes the output. A failed
 * run prints one line, "PROG: error: rank G: ...", naming the global rank of the first real
 * error: the set-up error the agreement chose, else the first collective that failed (comm.h's
 * fault), else a rank's own later failure; on thread ranks only the main thread prints, and no
 * rank thread exits. Not here: the command line (main.c), the collectives (comm*.c) or the
 * fault injection of test builds (test_hooks.h). */
#include <pthread.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "inputs.h"
#include "model.h"
#include "provenance.h"
#include "ranks.h"
#include "rng.h"
#include "safetensors.h"
#include "sampler.h"
#include "test_hooks.h"

/* Synthetic conditioning for benchmarks without --cond: N(0, 0.5) text, every token valid. */
static void synthetic_cond(ditc_model *m) {
  const ditc_variant *v = m->v;
  for (int i = 0; i < v->denoiser->n_inputs; i++) {
    const ditc_input_spec *in = &v->denoiser->inputs[i];
    if (in->role == DITC_IN_TEXT) {
      float *y = (float *)(void *)(m->arena + in->off);
      rng_normal(y, (int64_t)v->denoiser->Bp * v->denoiser->L * v->denoiser->Cc, 12345u + (uint64_t)i);
      for (int64_t k = 0; k < (int64_t)v->denoiser->Bp * v->denoiser->L * v->denoiser->Cc; k++) y[k] *= 0.5f;
    } else {
      int32_t *mask = (int32_t *)(void *)(m->arena + in->off);
      for (int64_t k = 0; k < (int64_t)v->denoiser->Bp * v->denoiser->L; k++) mask[k] = 1;
    }
  }
}

/* The run's error line: printed as "PROG: error: MSG", or kept for the caller (options.err_out). */
static void report(const options *o, const char *prog, const char *msg) {
  if (o->err_out) snprintf(o->err_out->msg, sizeof o->err_out->msg, "%s", msg);
  else fprintf(stderr, "%s: error: %s\n", prog, msg);
}

/* ---- one rank of a generation ---------------------------------------------------------------- */

typedef struct {
  const options *o;
  const ditc_variant *v;
  const float *weights;
  ditc_comm *world;    /* every rank of the generation (the start-up agreement); NULL: one rank */
  ditc_comm *comm;     /* sequence-parallel group; NULL: a single rank */
  int rank;            /* in that group */
  ditc_comm *cfg_comm; /* CFG-parallel pair; NULL without CFG parallelism */
  int cfg_rank;
  ditc_fault *fault;   /* the fault the communicators share; NULL: one rank */
  int failed;
  int reports; /* err is the run's line: 2 the first real error, 1 a later failure of this rank, 0 not */
  ditc_err err;
} rank_job;

/* A 64-bit hash of everything every rank must agree on (PAB table, schedule, variant). */
static uint64_t tables_hash(const ditc_variant *v) {
  uint64_t h = 0xcbf29ce484222325ull;
  const unsigned char *parts[] = {v->denoiser->pab_table, (const unsigned char *)v->denoiser->coef, (const unsigned char *)v->denoiser->tau,
                                  (const unsigned char *)v->denoiser->a2a_per_step, (const unsigned char *)v->inputs_hash};
  const size_t sizes[] = {(size_t)v->denoiser->steps * (size_t)v->denoiser->n_modules, (size_t)v->denoiser->steps * 4 * sizeof(float),
                          (size_t)v->denoiser->steps * sizeof(int), (size_t)v->denoiser->steps * sizeof(unsigned short),
                          strlen(v->inputs_hash)};
  for (int p = 0; p < 5; p++)
    for (size_t i = 0; i < sizes[p]; i++) h = (h ^ parts[p][i]) * 0x100000001b3ull;
  return h;
}

/* Makes err name the global rank of a run of several ranks: "rank G: ..." (model.c names the
 * rank within its group: that prefix is replaced). */
static void name_rank(ditc_err *err, ditc_status code, int global, int world) {
  if (world == 1) return;
  const ditc_err was = *err;
  int skip = 0;
  if (sscanf(was.msg, "rank %*d: %n", &skip) < 0) skip = 0;
  ditc_fail(err, code, "rank %d: %s", global, was.msg + skip);
}

/* Everything that can fail on one rank before the generation, after its arena: the inputs and
 * the buffer of --save-steps. Returns the status with err set. */
static ditc_status load_inputs(const rank_job *job, ditc_model *m, int global, float **latents, ditc_err *err) {
  const options *o = job->o;
  const ditc_variant *v = job->v;
  ditc_status s;
  if (o->cond_mem) model_put_cond(m, o->cond_mem);
  else if (o->cond) {
    if ((s = model_load_cond(m, test_hook_cond_path(global, o->cond), err))) return s;
  } else synthetic_cond(m);
  const int64_t latent = (int64_t)v->denoiser->Bp * v->denoiser->Cin * v->denoiser->Tx * v->denoiser->Hx * v->denoiser->Wx;
  if (o->noise) {
    if ((s = model_load_noise(m, o->noise, err))) return s;
  } else {
    sampler_seed_noise(m, (uint64_t)o->seed);
  }
  if (o->save_steps && global == 0 && !o->bench && o->latents_out) {
    *latents = o->latents_out;
  } else if (o->save_steps && global == 0 && !o->bench) {
    *latents = malloc((size_t)(latent * v->denoiser->steps) * sizeof(float));
    if (!*latents)
      return ditc_fail(err, DITC_ENOMEM, "out of memory for --save-steps (%lld floats)", (long long)(latent * v->denoiser->steps));
  }
  return DITC_OK;
}

static void *rank_main(void *arg) {
  rank_job *job = arg;
  const options *o = job->o;
#ifdef _OPENMP
  if (o->threads > 0) omp_set_num_threads(o->threads); /* an ICV of each thread: main's does not carry over */
#endif
  const ditc_variant *v = job->v;
  const int global = job->cfg_rank * v->denoiser->sp + job->rank, world = (v->denoiser->cfg_parallel ? 2 : 1) * v->denoiser->sp;
  const int writer = global == 0;
  ditc_err *err = &job->err;
  ditc_model m;
  float *latents = NULL;
  job->failed = 1;
  ditc_status s = model_init_rank(&m, v, job->weights, job->rank, job->comm, job->cfg_rank, job->cfg_comm,
                                  o->arenas ? o->arenas[global] : NULL, err);
  const int have_model = !s;
  if (!s) s = load_inputs(job, &m, global, &latents, err);
  if (s) name_rank(err, s, global, world);
  /* the one agreement of the whole world: every rank comes, also one whose set-up failed */
  const int culprit = comm_agree(job->world, s != DITC_OK, tables_hash(v) ^ test_hook_table_skew(global),
                                 "the PAB/sampler tables hash", err);
  if (culprit != -1) {
    job->reports = culprit == global ? 2 : 0;
    goto out;
  }
  if (o->bench) {
    job->failed = bench(&m, writer);
    goto out;
  }
  if (!o->quiet && writer)
    fprintf(stderr, "%s/%s: %d steps, PAB %s, arena %lld bytes%s\n", v->family, v->name, v->denoiser->steps,
            o->pab_on ? "on" : "off", (long long)v->arena_bytes, v->denoiser->sp > 1 ? " per rank" : "");
  /* collectives' buffers before the step loop: all-to-all and gathers receive at most this */
  const size_t most = (size_t)(v->denoiser->a2a_bytes > v->denoiser->gather_bytes ? v->denoiser->a2a_bytes : v->denoiser->gather_bytes) * 2 + 4096;
  if (job->comm && job->comm->reserve) job->comm->reserve(job->comm, most);
  if (job->cfg_comm && job->cfg_comm->reserve)
    job->cfg_comm->reserve(job->cfg_comm, 2 * (size_t)v->denoiser->B * v->denoiser->Cout * v->denoiser->Tx * v->denoiser->Hx * v->denoiser->Wx * sizeof(float));
  const int stop = test_hook_stop_before(global); /* 1 + the step to stop at, as if this rank died */
  sampler_health health;
  sampler_opts so = {.pab_on = o->pab_on, .progress = !o->quiet && writer, .latents = latents, .stop_before = stop,
                     .keep_nonfinite = o->allow_nonfinite, .health = &health};
  sampler_run(&m, &so);
  if (job->fault && comm_faulted(job->fault)) goto out;
  if (job->comm && o->comm_stats)
    fprintf(stderr, "comm: rank %d: %llu all-to-alls, %llu bytes sent; %llu all_gathers, %llu bytes sent\n",
            global, (unsigned long long)job->comm->a2a_calls, (unsigned long long)job->comm->a2a_bytes,
            (unsigned long long)job->comm->gather_calls, (unsigned long long)job->comm->gather_bytes);
  if (job->cfg_comm && o->comm_stats)
    fprintf(stderr, "comm: rank %d: CFG pair: %llu all_gathers, %llu bytes sent\n", global,
            (unsigned long long)job->cfg_comm->gather_calls, (unsigned long long)job->cfg_comm->gather_bytes);
  if (stop && stop - 1 < v->denoiser->steps) { /* it "died": it writes nothing, and fails if no peer noticed */
    ditc_fail(err, DITC_EINVAL, "stopped before step %d by a test hook, as if it died", stop - 1);
    name_rank(err, DITC_EINVAL, global, world);
    job->reports = 1;
    goto out;
  }
  if (writer && health.bad_step >= 0 && !o->allow_nonfinite) { /* every rank holds the same latent */
    const int i = health.bad_step;
    if (health.step_known)
      ditc_fail(err, DITC_EINVAL, "the latent after step %d/%d (t %.3f) holds NaN/Inf (first at element %lld); "
                "nothing written (--allow-nonfinite writes it anyway)", i + 1, v->denoiser->steps, (double)v->denoiser->t_sched[i],
                (long long)health.bad_index);
    else
      ditc_fail(err, DITC_EINVAL, "the final latent holds NaN/Inf (first at element %lld; this backend checks "
                "each step only with --save-steps); nothing written (--allow-nonfinite writes it anyway)",
                (long long)health.bad_index);
    name_rank(err, DITC_EINVAL, global, world);
    job->reports = 1;
    goto out;
  }
  if (writer && health.bad_step >= 0 && !o->quiet)
    fprintf(stderr, "warning: the latent holds NaN/Inf from step %d on (written: --allow-nonfinite)\n",
            health.bad_step + 1);
  if (writer && o->final_out) { /* a pipeline's: the latent stays in memory for its decode phase */
    const ditc_denoiser *d = v->denoiser; /* sampler_run left the final latent at off_z on the host */
    memcpy(o->final_out, m.arena + d->off_z, (size_t)d->Bp * d->Cin * d->Tx * d->Hx * d->Wx * sizeof(float));
  } else if (writer) {
    st_out_tensor t[2];
    t[0] = model_io_tensor(&m, DITC_IO_LATENT, "final");
    t[1] = (st_out_tensor){.name = "latents", .dtype = ST_F32, .ndim = t[0].ndim + 1, .shape = {v->denoiser->steps},
                           .data = latents}; /* [K, latent]: the latent after every step */
    for (int i = 0; i < t[0].ndim; i++) t[1].shape[i + 1] = t[0].shape[i];
    provenance prov;
    provenance_make(&prov, v, o, "sample");
    if ((s = st_write_meta(o->out, t, latents ? 2 : 1, prov.meta, prov.n, err))) {
      name_rank(err, s, global, world);
      job->reports = 1;
      goto out;
    }
  }
  job->failed = 0;
out:
  if (job->fault && comm_faulted(job->fault)) { /* a collective failed: its rank reports it */
    job->failed = 1;
    if (__atomic_load_n(&job->fault->rank, __ATOMIC_ACQUIRE) == global) {
      *err = job->fault->err;
      job->reports = 2;
    }
  }
  if (latents != o->latents_out) free(latents);
  if (have_model) model_free(&m);
  return NULL;
}

/* The line a failed run of thread ranks prints: the job whose err has the highest precedence
 * (lowest global rank among equals); -1 when none failed. */
static int first_error(const rank_job *jobs, int world) {
  int best = -1;
  for (int g = 0; g < world; g++)
    if (jobs[g].failed && (best < 0 || jobs[g].reports > jobs[best].reports)) best = g;
  return best;
}

/* Runs the generation on one rank, on thread ranks (--ranks N), or as one NCCL rank (nccl); with
 * `early` (an NCCL process whose set-up failed before: its weights), only the NCCL start-up as a
 * failed rank. The world is (1 or 2 CFG halves) x sp ranks; global rank = cfg_rank * sp + rank. */
static int run(const options *o, const ditc_variant *v, const float *weights, ditc_comm *nccl, const ditc_err *early,
               const char *prog) {
  ditc_err err = {{0}};
  DITC_CHECK(nccl || !early);
  ditc_fault fault = DITC_FAULT_INIT;
  const int cfgp = v->denoiser->cfg_parallel ? 2 : 1, world = cfgp * v->denoiser->sp;
  const int P = nccl ? nccl->size : o->ranks ? o->ranks : 1;
  if (P != world) {
    ditc_fail(&err, DITC_EINVAL, "%s/%s is built for %d rank%s (%d CFG x %d sequence-parallel), not %d (%s)",
              v->family, v->name, world, world == 1 ? "" : "s", cfgp, v->denoiser->sp, P, nccl ? "WORLD_SIZE" : "--ranks");
    report(o, prog, err.msg);
    if (nccl) nccl->destroy(nccl);
    return 1;
  }
  if (nccl) { /* split the world into the sequence-parallel group and the CFG pair (they share the fault) */
    const int g = nccl->rank;
    nccl->fault = &fault;
    rank_job job = {.o = o, .v = v, .weights = weights, .world = nccl, .comm = nccl, .rank = g % v->denoiser->sp,
                    .cfg_rank = g / v->denoiser->sp, .fault = &fault};
    if (cfgp > 1) {
      job.comm = v->denoiser->sp > 1 ? comm_nccl_split(nccl, g / v->denoiser->sp, g % v->denoiser->sp, &err) : NULL;
      job.cfg_comm = comm_nccl_split(nccl, g % v->denoiser->sp, g / v->denoiser->sp, &err);
      if ((v->denoiser->sp > 1 && !job.comm) || !job.cfg_comm) return report(o, prog, err.msg), 1;
    }
    if (early) { /* join the agreement failed: the other ranks stop now, not after --comm-timeout */
      job.err = *early;
      name_rank(&job.err, DITC_EIO, g, world);
      const int culprit = comm_agree(nccl, 1, 0, "the PAB/sampler tables hash", &job.err);
      job.failed = 1;
      job.reports = culprit == g || culprit == -2;
    } else rank_main(&job);
    if (job.failed && job.reports) report(o, prog, job.err.msg);
    return job.failed;
  }
  if (world == 1) {
    rank_job job = {.o = o, .v = v, .weights = weights};
    rank_main(&job);
    if (job.failed) report(o, prog, job.err.msg);
    return job.failed;
  }
  ditc_comm **everyone = comm_threads_create(world, o->comm_timeout, &err);
  if (!everyone) return report(o, prog, err.msg), 1;
  ditc_comm **sp_comms[2] = {NULL, NULL};
  for (int c = 0; c < cfgp && v->denoiser->sp > 1; c++)
    if (!(sp_comms[c] = comm_threads_create(v->denoiser->sp, o->comm_timeout, &err)))
      return report(o, prog, err.msg), 1;
  ditc_comm ***pairs = calloc((size_t)v->denoiser->sp, sizeof *pairs);
  DITC_CHECK(pairs != NULL);
  for (int s = 0; s < v->denoiser->sp && cfgp > 1; s++)
    if (!(pairs[s] = comm_threads_create(2, o->comm_timeout, &err)))
      return report(o, prog, err.msg), 1;
  rank_job *jobs = calloc((size_t)world, sizeof *jobs);
  pthread_t *tid = calloc((size_t)world, sizeof *tid);
  DITC_CHECK(jobs && tid);
  for (int g = 0; g < world; g++) { /* every communicator names global ranks and shares one fault */
    const int c = g / v->denoiser->sp, s = g % v->denoiser->sp;
    jobs[g] = (rank_job){.o = o, .v = v, .weights = weights, .world = everyone[g], .rank = s, .cfg_rank = c,
                         .comm = v->denoiser->sp > 1 ? sp_comms[c][s] : NULL, .cfg_comm = cfgp > 1 ? pairs[s][c] : NULL,
                         .fault = &fault};
    ditc_comm *mine[3] = {jobs[g].world, jobs[g].comm, jobs[g].cfg_comm};
    for (int k = 0; k < 3; k++)
      if (mine[k]) mine[k]->global = g, mine[k]->fault = &fault;
  }
  for (int g = 0; g < world; g++) DITC_CHECK(pthread_create(&tid[g], NULL, rank_main, &jobs[g]) == 0);
  for (int g = 0; g < world; g++) pthread_join(tid[g], NULL);
  const int first = first_error(jobs, world);
  if (first >= 0) report(o, prog, jobs[first].err.msg);
  everyone[0]->destroy(everyone[0]);
  free(everyone);
  for (int c = 0; c < 2; c++)
    if (sp_comms[c]) sp_comms[c][0]->destroy(sp_comms[c][0]), free(sp_comms[c]);
  for (int s = 0; s < v->denoiser->sp; s++)
    if (pairs[s]) pairs[s][0]->destroy(pairs[s][0]), free(pairs[s]);
  free(pairs);
  free(jobs);
  free(tid);
  return first >= 0;
}

int run_ranks(const options *o, const ditc_variant *v, const float *weights, ditc_comm *nccl, const char *prog) {
  return run(o, v, weights, nccl, NULL, prog);
}

int run_ranks_failed(const options *o, const ditc_variant *v, ditc_comm *nccl, const ditc_err *err,
                     const char *prog) {
  return run(o, v, NULL, nccl, err, prog);
}
