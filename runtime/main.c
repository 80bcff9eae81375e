/* main.c: the command line of a fixed-model binary (one generated variant linked in).
 * Modes: sample (default), one forward call of a fixture (--forward), benchmark (--bench),
 * --print-schedule, --info. Every user mistake is one line on stderr and exit status 1, and no output
 * file is written unless the whole run succeeded. Not here: model math, sampling, or the ranks of a
 * generation (ranks.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "comm.h"
#include "dump.h"
#include "model.h"
#include "options.h"
#include "ranks.h"
#include "safetensors.h"
#include "sampler.h"

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
  /* Threads: --threads N, else OMP_NUM_THREADS, else one per CPU this process may run on
   * (omp_get_num_procs: its affinity mask) that other processes leave idle (the 1-minute load
   * average, rounded), shared by the ranks of a --ranks run, and at least one. More threads than
   * idle CPUs wait for each other at every op's barrier: on a 2-vCPU machine shared with other
   * work, 2 threads took 0.20 s a step against 0.08 s with one. */
  if (o.threads > 0) omp_set_num_threads(o.threads);
  else if (!getenv("OMP_NUM_THREADS")) {
    double load = 0.0;
    int n = omp_get_num_procs();
    if (getloadavg(&load, 1) == 1) n -= (int)(load + 0.5);
    if (!o.comm && o.ranks > 1) n /= o.ranks;
    omp_set_num_threads(n > 1 ? n : 1);
  }
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