/* main.c: the command line of a fixed-model binary (one generated variant linked in).
 * Modes: sample (default), one forward call of a fixture (--forward), benchmark (--bench),
 * --print-schedule, --info; a parallel variant's ranks run as threads (--ranks) or as one NCCL
 * rank (--comm nccl). Every user mistake is one line on stderr and exit status 1, and no output
 * file is written unless the whole run succeeded. Not here: model math or sampling. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "backend.h"
#include "comm.h"
#include "dump.h"
#include "model.h"
#include "rng.h"
#include "safetensors.h"
#include "sampler.h"

typedef struct {
  const char *weights, *cond, *noise, *out, *forward, *call, *dump;
  const char *comm;
  long long seed, random_seed;
  int has_seed, has_random, pab_on, save_steps, quiet, print_schedule, info, bench, threads, ranks, comm_stats;
  double comm_timeout;
} options;

static void usage(FILE *f, const char *prog) {
  fprintf(f,
          "usage: %s --weights FILE --cond FILE [--noise FILE | --seed N] --out FILE\n"
          "          [--pab on|off] [--save-steps] [--quiet] [--threads N]\n"
          "       %s --weights FILE --forward FILE --call PREFIX --out FILE [--dump NAMES|all]\n"
          "       %s (--weights FILE | --random-weights SEED) [--cond FILE] --bench\n"
          "       %s --print-schedule | --info | --help\n"
          "  --weights FILE         safetensors checkpoint with upstream tensor names\n"
          "  --cond FILE            text-encoder output 'y' [Bp, 1, L, Cc] and its 'mask' [Bp, L]\n"
          "  --noise FILE           initial latent 'z0' [Bp, C, T, H, W]; default: --seed 0\n"
          "  --seed N               counter-based N(0,1) noise (identical on every backend)\n"
          "  --out FILE             safetensors output: 'final' (and 'latents' with --save-steps)\n"
          "  --pab on|off           run the baked PAB schedule (default) or compute everything\n"
          "  --forward/--call       run one model call from a fixture file (PREFIX.x, .timestep, .y, .mask)\n"
          "  --random-weights SEED  seeded random weights for benchmarks; writes no output\n"
          "  --ranks P              sequence-parallel variants: run the P ranks as threads of this process\n"
          "  --comm nccl            sequence-parallel variants: this process is one NCCL rank (RANK,\n"
          "                         WORLD_SIZE, MASTER_ADDR/MASTER_PORT or DITC_NCCL_ID_FILE; see ditc-launch)\n"
          "  --comm-timeout S       a rank that does not answer within S seconds ends the run (default 300)\n"
          "  --comm-stats           print each rank's all-to-all and all_gather counts and bytes\n",
          prog, prog, prog, prog);
}

static int fail_usage(const char *prog, const char *fmt, const char *arg) {
  fprintf(stderr, "%s: error: ", prog);
  fprintf(stderr, fmt, arg);
  fprintf(stderr, " (see --help)\n");
  return 1;
}

static int parse_ll(const char *s, long long *out) {
  char *end;
  errno = 0;
  *out = strtoll(s, &end, 10);
  return errno == 0 && end != s && *end == '\0';
}

static int parse(int argc, char **argv, options *o) {
  memset(o, 0, sizeof *o);
  o->pab_on = 1;
  o->comm_timeout = 300.0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char **str = NULL;
    if (!strcmp(a, "--weights")) str = &o->weights;
    else if (!strcmp(a, "--cond")) str = &o->cond;
    else if (!strcmp(a, "--noise")) str = &o->noise;
    else if (!strcmp(a, "--out")) str = &o->out;
    else if (!strcmp(a, "--forward")) str = &o->forward;
    else if (!strcmp(a, "--call")) str = &o->call;
    else if (!strcmp(a, "--dump")) str = &o->dump;
    else if (!strcmp(a, "--comm")) str = &o->comm;
    if (str) {
      if (i + 1 >= argc) return fail_usage(argv[0], "%s needs a value", a);
      *str = argv[++i];
      continue;
    }
    if (!strcmp(a, "--seed") || !strcmp(a, "--random-weights") || !strcmp(a, "--threads") || !strcmp(a, "--pab") ||
        !strcmp(a, "--ranks") || !strcmp(a, "--comm-timeout")) {
      if (i + 1 >= argc) return fail_usage(argv[0], "%s needs a value", a);
      const char *val = argv[++i];
      long long n;
      if (!strcmp(a, "--pab")) {
        if (strcmp(val, "on") && strcmp(val, "off")) return fail_usage(argv[0], "--pab must be on or off, got '%s'", val);
        o->pab_on = !strcmp(val, "on");
      } else if (!parse_ll(val, &n) || n < 0) {
        fprintf(stderr, "%s: error: %s needs a non-negative integer, got '%s' (see --help)\n", argv[0], a, val);
        return 1;
      } else if (!strcmp(a, "--seed")) o->seed = n, o->has_seed = 1;
      else if (!strcmp(a, "--random-weights")) o->random_seed = n, o->has_random = 1;
      else if (!strcmp(a, "--ranks") && (n < 1 || n > 1024)) {
        fprintf(stderr, "%s: error: --ranks needs an integer in 1..1024, got '%s' (see --help)\n", argv[0], val);
        return 1;
      } else if (!strcmp(a, "--ranks")) o->ranks = (int)n;
      else if (!strcmp(a, "--comm-timeout") && (n < 1 || n > 86400)) {
        fprintf(stderr, "%s: error: --comm-timeout needs seconds in 1..86400, got '%s' (see --help)\n", argv[0], val);
        return 1;
      } else if (!strcmp(a, "--comm-timeout")) o->comm_timeout = (double)n;
      else if (n > 4096) {
        fprintf(stderr, "%s: error: --threads needs an integer in 0..4096, got '%s' (see --help)\n", argv[0], val);
        return 1;
      } else o->threads = (int)n;
      continue;
    }
    if (!strcmp(a, "--save-steps")) o->save_steps = 1;
    else if (!strcmp(a, "--quiet")) o->quiet = 1;
    else if (!strcmp(a, "--print-schedule")) o->print_schedule = 1;
    else if (!strcmp(a, "--info")) o->info = 1;
    else if (!strcmp(a, "--bench")) o->bench = 1;
    else if (!strcmp(a, "--comm-stats")) o->comm_stats = 1;
    else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout, argv[0]);
      exit(0);
    } else return fail_usage(argv[0], "unknown argument '%s'", a);
  }
  return 0;
}

/* Cross-checks of the flags, before any file is opened. */
static int check_flags(const options *o, const char *prog) {
  if (o->print_schedule || o->info) return 0;
  if (o->has_random && o->weights) return fail_usage(prog, "%s", "--weights and --random-weights exclude each other");
  if (!o->has_random && !o->weights) return fail_usage(prog, "%s", "--weights FILE is required");
  if (o->has_random && o->out)
    return fail_usage(prog, "%s", "--random-weights is for benchmarks and writes no output; drop --out");
  if (o->noise && o->has_seed) return fail_usage(prog, "%s", "--noise and --seed exclude each other");
  if (o->comm && strcmp(o->comm, "nccl") != 0) return fail_usage(prog, "--comm must be nccl, got '%s'", o->comm);
  if (o->comm && o->ranks) return fail_usage(prog, "%s", "--comm nccl and --ranks exclude each other");
  if (o->bench) return 0;
  if (o->forward) {
    if (!o->call) return fail_usage(prog, "%s", "--forward needs --call PREFIX (e.g. call0.)");
    if (!o->out) return fail_usage(prog, "%s", "--out FILE is required");
    return 0;
  }
  if (o->dump || o->call) return fail_usage(prog, "%s", "--dump and --call only apply with --forward");
  if (!o->cond) return fail_usage(prog, "%s", "--cond FILE is required");
  if (!o->out) return fail_usage(prog, "%s", "--out FILE is required");
  return 0;
}

static int error_exit(const char *prog, const ditc_err *err, ditc_model *m) {
  fprintf(stderr, "%s: error: %s\n", prog, err->msg);
  if (m) model_free(m);
  return 1;
}

static void info(const ditc_variant *v) {
  printf("variant %s/%s (%s), ABI %d, inputs hash %s\n", v->family, v->name, v->dtype, v->abi_version, v->inputs_hash);
  printf("latent [%d, %d, %d, %d, %d], text [%d, %d, %d], sampler %s %d steps, cfg %g\n", v->Bp, v->Cin, v->Tx,
         v->Hx, v->Wx, v->Bp, v->L, v->Cc, v->sampler, v->steps, (double)v->cfg_scale);
  printf("weights %d tensors, %lld elements; arena %lld bytes; %d PAB modules\n", v->n_weights,
         (long long)v->weight_elems, (long long)v->arena_bytes, v->n_modules);
  printf("storage %s (%d bytes an element); the host holds %lld arena bytes; %d distinct PAB rows\n", v->storage,
         v->st_bytes, (long long)v->host_bytes, v->n_patterns);
}

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

static double skipped_share(const ditc_variant *v) {
  double skipped = 0.0;
  for (int i = 0; i < v->steps; i++)
    for (int k = 0; k < v->n_modules; k++)
      if (DITC_PAB_OP(v->pab_table[(int64_t)i * v->n_modules + k]) == DITC_PAB_REUSE) skipped += v->module_flops[k];
  return skipped / (v->step_flops * v->steps);
}

static int bench(ditc_model *m, int print) {
  const ditc_variant *v = m->v;
  const int64_t latent = (int64_t)v->Bp * v->Cin * v->Tx * v->Hx * v->Wx;
  float *z0 = malloc((size_t)latent * sizeof(float));
  double *sec = malloc((size_t)v->steps * sizeof(double));
  DITC_CHECK(z0 && sec);
  memcpy(z0, m->arena + v->off_z, (size_t)latent * sizeof(float));
  if (!print) { /* another rank of a parallel run: take part, report nothing */
    for (int pab = 0; pab < 2; pab++) {
      memcpy(m->arena + v->off_z, z0, (size_t)latent * sizeof(float));
      sampler_opts so = {.pab_on = pab};
      sampler_run(m, &so);
    }
    free(z0);
    free(sec);
    return 0;
  }
  printf("bench %s/%s: %d steps, %.3f GFLOP per all-compute step, arena %.2f MiB, weights %.2f MiB\n", v->family,
         v->name, v->steps, v->step_flops / 1e9, (double)v->arena_bytes / 1048576.0,
         (double)v->weight_elems * v->st_bytes / 1048576.0);
  double total[2];
  for (int pab = 0; pab < 2; pab++) {
    memcpy(m->arena + v->off_z, z0, (size_t)latent * sizeof(float));
    sampler_opts so = {.pab_on = pab, .progress = 0, .step_seconds = sec};
    sampler_run(m, &so);
    total[pab] = 0.0;
    for (int i = 0; i < v->steps; i++) total[pab] += sec[i];
    printf("  pab %-3s: %.4f s per step (mean of %d), %.3f s loop, %.2f GFLOP/s effective\n", pab ? "on" : "off",
           total[pab] / v->steps, v->steps, total[pab], v->step_flops * v->steps / total[pab] / 1e9);
  }
  printf("  pab skips %.1f%% of step FLOPs; speedup on/off %.3fx\n", 100.0 * skipped_share(v), total[0] / total[1]);
  const int64_t dev = ditc_backend()->device_bytes(m);
  if (dev > 0) printf("  peak device memory: %lld bytes (%.2f GiB)\n", (long long)dev, (double)dev / 1073741824.0);
  free(z0);
  free(sec);
  return 0;
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
  sampler_opts so = {.pab_on = o->pab_on, .progress = !o->quiet && writer, .latents = latents, .stop_before = stop};
  sampler_run(&m, &so);
  if (job->comm && o->comm_stats)
    fprintf(stderr, "comm: rank %d: %llu all-to-alls, %llu bytes sent; %llu all_gathers, %llu bytes sent\n",
            global, (unsigned long long)job->comm->a2a_calls, (unsigned long long)job->comm->a2a_bytes,
            (unsigned long long)job->comm->gather_calls, (unsigned long long)job->comm->gather_bytes);
  if (job->cfg_comm && o->comm_stats)
    fprintf(stderr, "comm: rank %d: CFG pair: %llu all_gathers, %llu bytes sent\n", global,
            (unsigned long long)job->cfg_comm->gather_calls, (unsigned long long)job->cfg_comm->gather_bytes);
  if (writer) {
    st_out_tensor t[2] = {
        {.name = "final", .dtype = ST_F32, .ndim = 5, .shape = {v->Bp, v->Cin, v->Tx, v->Hx, v->Wx},
         .data = m.arena + v->off_z},
        {.name = "latents", .dtype = ST_F32, .ndim = 6, .shape = {v->steps, v->Bp, v->Cin, v->Tx, v->Hx, v->Wx},
         .data = latents},
    };
    if (st_write(o->out, t, latents ? 2 : 1, err)) {
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
static int run_ranks(const options *o, const ditc_variant *v, const float *weights, ditc_comm *nccl,
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

int main(int argc, char **argv) {
  const char *prog = argv[0];
  options o;
  if (parse(argc, argv, &o) || check_flags(&o, prog)) return 1;
  const ditc_variant *v = ditc_variant_get();
  if (o.print_schedule) {
    fputs(v->schedule_text, stdout);
    return 0;
  }
  if (o.info) {
    info(v);
    return 0;
  }
#ifdef _OPENMP
  if (o.threads > 0) omp_set_num_threads(o.threads);
#endif
  ditc_err err = {{0}};
  const int world = (v->cfg_parallel ? 2 : 1) * v->sp;
  if (o.forward && world > 1)
    return fail_usage(prog, "%s", "--forward runs single-rank variants (this one is built for several ranks)");
  if (!o.comm && !o.forward && (o.ranks ? o.ranks : 1) != world) {
    fprintf(stderr, "%s: error: %s/%s is built for %d rank%s (%d CFG x %d sequence-parallel): run it with --ranks %d\n",
            prog, v->family, v->name, world, world == 1 ? "" : "s", v->cfg_parallel ? 2 : 1, v->sp, world);
    return 1;
  }
  if (o.out && st_probe_writable(o.out, &err)) return error_exit(prog, &err, NULL);
  ditc_comm *nccl = NULL; /* joined before the (possibly large) checkpoint is read */
  if (o.comm && !(nccl = comm_nccl_create(o.comm_timeout, &err))) return error_exit(prog, &err, NULL);
  ditc_model m; /* the weights (and, for --forward, a single-rank arena) */
  if (model_init_weights(&m, v, o.forward != NULL, &err)) return error_exit(prog, &err, NULL);
  if (o.has_random) model_random_weights(&m, (uint64_t)o.random_seed);
  else if (model_load_weights(&m, o.weights, &err)) return error_exit(prog, &err, &m);

  if (o.forward) {
    if (model_attach(&m, &err)) return error_exit(prog, &err, &m);
    struct ditc_dump *d = o.dump ? dump_new(o.dump) : NULL;
    m.ex.dump = d;
    if (model_load_forward(&m, o.forward, o.call, &err)) return error_exit(prog, &err, &m);
    sampler_forward_once(&m);
    st_out_tensor t[257];
    t[0] = (st_out_tensor){.name = "out", .dtype = ST_F32, .ndim = 5,
                           .shape = {v->B, v->Cout, v->Tx, v->Hx, v->Wx}, .data = m.arena + v->off_out};
    const int n = 1 + (d ? dump_tensors(d, "inter.", t + 1, 256) : 0);
    if (d && n == 1) {
      dump_free(d);
      ditc_fail(&err, DITC_EINVAL, "--dump %s captured nothing: unknown name, or a binary built without "
                "DITC_DUMP_ENABLED (use bin/debug/%s-%s)", o.dump, v->family, v->name);
      return error_exit(prog, &err, &m);
    }
    const ditc_status s = st_write(o.out, t, n, &err);
    dump_free(d);
    if (s) return error_exit(prog, &err, &m);
    model_free(&m);
    return 0;
  }

  const int rc = run_ranks(&o, v, m.weights, nccl, prog);
  model_free(&m);
  return rc;
}