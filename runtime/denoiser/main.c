/* main.c: the command line of a fixed-model binary (one generated variant linked in).
 * Modes: sample (default), one forward call of a fixture (--forward), benchmark (--bench),
 * --print-schedule, --info. Every user mistake is one line on stderr and exit status 1, and no output
 * file is written unless the whole run succeeded. Not here: model math, sampling, or the ranks of a
 * generation (ranks.c). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "checkpoint.h"
#include "cli.h"
#include "comm.h"
#include "dump.h"
#include "mains.h"
#include "inputs.h"
#include "model.h"
#include "options.h"
#include "outfile.h"
#include "provenance.h"
#include "ranks.h"
#include "safetensors.h"
#include "sampler.h"

/* ---- flags ------------------------------------------------------------------------------------ */

/* Every flag once: its kind, where it lands in options, its value's name and its help line. */
enum { F_STR, F_U64, F_INT, F_PAB, F_BOOL, F_HELP };
typedef struct {
  const char *name;
  int kind;
  size_t off;      /* into options; F_U64 also sets the int at off2 */
  size_t off2;
  const char *arg; /* the value's name in --help */
  const char *help;
  long long lo, hi; /* F_INT range (hi 0: the number of online CPUs) */
} flag_spec;

#define OFF(f) offsetof(options, f)
static const flag_spec FLAGS[] = {
    {"--weights", F_STR, OFF(weights), 0, "FILE", "safetensors checkpoint with upstream tensor names (checked "
     "against the manifest): a .safetensors file, a sharded one's model.safetensors.index.json, or a folder "
     "holding either", 0, 0},
    {"--cond", F_STR, OFF(cond), 0, "FILE", "text-encoder output: the conditioning tensors listed below", 0, 0},
    {"--noise", F_STR, OFF(noise), 0, "FILE", "initial latent 'z0' (shape below); default: --seed 0", 0, 0},
    {"--seed", F_U64, OFF(seed), OFF(has_seed), "N", "counter-based N(0,1) noise from N in 0..2^64-1 (the same "
     "on every backend and rank count)", 0, 0},
    {"--out", F_STR, OFF(out), 0, "FILE", "safetensors output: 'final' ('latents' too with --save-steps); a "
     "regular file, never an input", 0, 0},
    {"--pab", F_PAB, OFF(pab_on), 0, "on|off", "run the baked PAB schedule (default) or compute every module", 0,
     0},
    {"--save-steps", F_BOOL, OFF(save_steps), 0, NULL, "also write 'latents' [K, ...]: the latent after every step",
     0, 0},
    {"--allow-nonfinite", F_BOOL, OFF(allow_nonfinite), 0, NULL, "write the result even when it holds NaN/Inf "
     "(default: fail naming the first bad step)", 0, 0},
    {"--quiet", F_BOOL, OFF(quiet), 0, NULL, "no progress lines on stderr (errors still print)", 0, 0},
    {"--threads", F_INT, OFF(threads), 0, "N", "CPU threads, 1 .. the online CPUs (results do not depend on it)",
     1, 0},
    {"--forward", F_STR, OFF(forward), 0, "FILE", "run one model call from a fixture file (with --call)", 0, 0},
    {"--call", F_STR, OFF(call), 0, "PREFIX", "the fixture call's tensor prefix, e.g. call0.", 0, 0},
    {"--dump", F_STR, OFF(dump), 0, "NAMES|all", "with --forward in a bin/debug/ binary: also write intermediates "
     "by stable name (comma-separated)", 0, 0},
    {"--random-weights", F_U64, OFF(random_seed), OFF(has_random), "SEED", "seeded random weights: only with "
     "--bench, never a real model", 0, 0},
    {"--bench", F_BOOL, OFF(bench), 0, NULL, "time the sampler with PAB off and on; writes no output", 0, 0},
    {"--info", F_BOOL, OFF(info), 0, NULL, "print the variant's dims, sampler, weights and arena, and exit", 0, 0},
    {"--print-schedule", F_BOOL, OFF(print_schedule), 0, NULL, "print the variant's schedule.txt and exit", 0, 0},
    {"--ranks", F_INT, OFF(ranks), 0, "P", "parallel variants: run the P ranks as threads of this process", 1,
     1024},
    {"--comm", F_STR, OFF(comm), 0, "nccl", "parallel variants: this process is one NCCL rank (RANK, WORLD_SIZE, "
     "MASTER_ADDR/MASTER_PORT or DITC_NCCL_ID_FILE; see tools/ditc-launch)", 0, 0},
    {"--comm-timeout", F_INT, OFF(comm_timeout), 0, "S", "a rank that does not answer within S seconds ends the "
     "run (default 300)", 1, 86400},
    {"--comm-stats", F_BOOL, OFF(comm_stats), 0, NULL, "print each rank's all-to-all and all_gather counts and "
     "bytes", 0, 0},
    {"--help", F_HELP, 0, 0, NULL, "this text (also -h)", 0, 0},
};
#define N_FLAGS (int)(sizeof FLAGS / sizeof FLAGS[0])

static long long online_cpus(void) {
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? n : 1;
}

/* A tensor shape as "[a, b, c]". */
static const char *dims(char *buf, size_t cap, int n, const int64_t *d) {
  int o = snprintf(buf, cap, "[");
  for (int i = 0; i < n && o < (int)cap; i++)
    o += snprintf(buf + o, cap - (size_t)o, "%s%lld", i ? ", " : "", (long long)d[i]);
  if (o < (int)cap) snprintf(buf + o, cap - (size_t)o, "]");
  return buf;
}

/* The usage of this binary: its modes, every flag, and its own inputs with names and shapes. */
static void usage(FILE *f, const char *prog, const ditc_variant *v) {
  fprintf(f, "%s: %s/%s, %s %d steps (ditc, ABI %d)\n", prog, v->family, v->name, v->denoiser->sampler, v->denoiser->steps,
          v->abi_version);
  fprintf(f, "usage: %s --weights FILE --cond FILE [--noise FILE | --seed N] --out FILE [--pab on|off]\n"
             "          [--save-steps] [--allow-nonfinite] [--quiet] [--threads N]\n"
             "       %s --weights FILE --forward FILE --call PREFIX --out FILE [--dump NAMES|all]\n"
             "       %s (--weights FILE | --random-weights SEED) [--cond FILE] --bench\n"
             "       %s --print-schedule | --info | --help\n",
          prog, prog, prog, prog);
  if (v->denoiser->sp * (v->denoiser->cfg_parallel ? 2 : 1) > 1)
    fprintf(f, "       (built for %d ranks: add --ranks %d, or --comm nccl under a launcher)\n",
            v->denoiser->sp * (v->denoiser->cfg_parallel ? 2 : 1), v->denoiser->sp * (v->denoiser->cfg_parallel ? 2 : 1));
  fprintf(f, "flags:\n");
  for (int i = 0; i < N_FLAGS; i++) {
    char lhs[40];
    snprintf(lhs, sizeof lhs, "%s%s%s", FLAGS[i].name, FLAGS[i].arg ? " " : "", FLAGS[i].arg ? FLAGS[i].arg : "");
    fprintf(f, "  %-22s %s\n", lhs, FLAGS[i].help);
  }
  char b1[96];
  fprintf(f, "this binary's inputs (Bp %d prompts, L %d text tokens, Cc %d caption channels):\n", v->denoiser->Bp, v->denoiser->L, v->denoiser->Cc);
  for (int i = 0; i < v->denoiser->n_inputs; i++) {
    const ditc_input_spec *in = &v->denoiser->inputs[i];
    if (in->role == DITC_IN_TEXT)
      fprintf(f, "  --cond   %-22s float %s = [Bp, L, Cc] (or [Bp, 1, L, Cc])\n", in->name,
              dims(b1, sizeof b1, 3, (int64_t[]){v->denoiser->Bp, v->denoiser->L, v->denoiser->Cc}));
    else
      fprintf(f, "  --cond   %-22s 0/1 integer or bool %s = [Bp, L]%s\n", in->name,
              dims(b1, sizeof b1, 2, (int64_t[]){v->denoiser->Bp, v->denoiser->L}), in->optional ? ", optional (all valid)" : "");
  }
  const ditc_io *z = ditc_io_find(v, DITC_IO_LATENT);
  DITC_CHECK(z != NULL);
  fprintf(f, "  --noise  %-22s float %s = [%s]\n", "z0", dims(b1, sizeof b1, z->ndim, z->shape), z->dims);
  fprintf(f, "  --out    %-22s F32 %s; 'latents' [K = %d, ...] with --save-steps\n", "final",
          dims(b1, sizeof b1, z->ndim, z->shape), v->denoiser->steps);
  fprintf(f, "  --forward  PREFIX + %s, %s, %s%s%s\n", v->denoiser->fwd_x, v->denoiser->fwd_t, v->denoiser->fwd_text, v->denoiser->fwd_mask ? ", " : "",
          v->denoiser->fwd_mask ? v->denoiser->fwd_mask : "");
}

static int fail_usage(const char *prog, const char *fmt, const char *arg) {
  fprintf(stderr, "%s: error: ", prog);
  fprintf(stderr, fmt, arg);
  fprintf(stderr, " (see --help)\n");
  return 1;
}

/* Parses argv into o: each flag at most once, every value present and not itself a flag. */
static int parse(int argc, char **argv, options *o, const ditc_variant *v) {
  memset(o, 0, sizeof *o);
  o->pab_on = 1;
  o->comm_timeout = 300.0;
  int seen[N_FLAGS] = {0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int k = 0;
    while (k < N_FLAGS && strcmp(a, FLAGS[k].name) != 0) k++;
    if (k == N_FLAGS && !strcmp(a, "-h")) k = N_FLAGS - 1;
    if (k == N_FLAGS) return fail_usage(argv[0], "unknown argument '%s'", a);
    const flag_spec *fl = &FLAGS[k];
    if (fl->kind == F_HELP) {
      usage(stdout, argv[0], v);
      exit(0);
    }
    if (seen[k]++) return fail_usage(argv[0], "%s is given twice", a);
    char *base = (char *)o;
    if (fl->kind == F_BOOL) {
      *(int *)(void *)(base + fl->off) = 1;
      continue;
    }
    if (i + 1 >= argc) return fail_usage(argv[0], "%s needs a value", a);
    const char *val = argv[++i];
    if (val[0] == '-' && val[1] == '-') {
      fprintf(stderr, "%s: error: %s needs a value, got the flag '%s' (a file of that name: ./%s) (see --help)\n",
              argv[0], a, val, val);
      return 1;
    }
    unsigned long long n;
    if (fl->kind == F_STR) {
      *(const char **)(void *)(base + fl->off) = val;
    } else if (fl->kind == F_PAB) {
      if (strcmp(val, "on") && strcmp(val, "off")) return fail_usage(argv[0], "--pab takes on or off, got '%s'", val);
      o->pab_on = !strcmp(val, "on");
    } else if (fl->kind == F_U64) {
      if (!cli_u64(val, ~0ull, &n)) {
        fprintf(stderr, "%s: error: %s needs an integer in 0..18446744073709551615 (digits only), got '%s' "
                "(see --help)\n", argv[0], a, val);
        return 1;
      }
      *(unsigned long long *)(void *)(base + fl->off) = n;
      *(int *)(void *)(base + fl->off2) = 1;
    } else {
      const long long hi = fl->hi ? fl->hi : online_cpus();
      if (!cli_u64(val, ~0ull, &n) || n < (unsigned long long)fl->lo || n > (unsigned long long)hi) {
        fprintf(stderr, "%s: error: %s needs an integer in %lld..%lld%s, got '%s' (see --help)\n", argv[0], a,
                fl->lo, hi, fl->hi ? "" : " (the online CPUs)", val);
        return 1;
      }
      if (fl->off == OFF(comm_timeout)) o->comm_timeout = (double)n;
      else *(int *)(void *)(base + fl->off) = (int)n;
    }
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
  if (o->has_random && !o->bench)
    return fail_usage(prog, "%s", "--random-weights only runs with --bench (random weights make no real output)");
  if (o->bench && o->out) return fail_usage(prog, "%s", "--bench writes no output; drop --out");
  if (o->bench && (o->save_steps || o->forward))
    return fail_usage(prog, "%s", "--bench excludes --save-steps and --forward");
  if (o->noise && o->has_seed) return fail_usage(prog, "%s", "--noise and --seed exclude each other");
  if (o->comm && strcmp(o->comm, "nccl") != 0) return fail_usage(prog, "--comm must be nccl, got '%s'", o->comm);
  if (o->comm && o->ranks) return fail_usage(prog, "%s", "--comm nccl and --ranks exclude each other");
  if (o->bench) return 0;
  if (o->forward) {
    if (!o->call) return fail_usage(prog, "%s", "--forward needs --call PREFIX (e.g. call0.)");
    if (!o->out) return fail_usage(prog, "%s", "--out FILE is required");
    if (o->cond || o->noise || o->has_seed || o->save_steps)
      return fail_usage(prog, "%s", "--forward reads every input from its fixture: drop --cond, --noise, --seed "
                        "and --save-steps");
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
  printf("variant %s/%s, ABI %d, inputs hash %s\n", v->family, v->name, v->abi_version, v->inputs_hash);
  printf("latent [%d, %d, %d, %d, %d], text [%d, %d, %d], sampler %s %d steps, cfg %g\n", v->denoiser->Bp, v->denoiser->Cin, v->denoiser->Tx,
         v->denoiser->Hx, v->denoiser->Wx, v->denoiser->Bp, v->denoiser->L, v->denoiser->Cc, v->denoiser->sampler, v->denoiser->steps, (double)v->denoiser->cfg_scale);
  printf("weights %d tensors, %lld elements; arena %lld bytes; %d PAB modules\n", v->n_weights,
         (long long)v->weight_elems, (long long)v->arena_bytes, v->denoiser->n_modules);
  for (int i = 0; i < v->n_io; i++) {
    static const char *const roles[] = {"input", "output", "state"};
    const ditc_io *e = &v->io[i];
    char shape[160];
    printf("io %-16s %-6s %s %s = [%s], arena offset %lld\n", e->name, roles[e->role], e->dtype ? "i32" : "f32",
           dims(shape, sizeof shape, e->ndim, e->shape), e->dims, (long long)e->off);
  }
  printf("pipeline dtype %s: upstream's rounding of the timesteps, sizes and RoPE angles, baked into the tables\n",
         v->dtype);
  printf("storage %s: the element this build keeps activations, PAB caches and weights in (%d bytes); the host "
         "holds %lld arena bytes; %d distinct PAB rows\n", v->storage, v->st_bytes, (long long)v->host_bytes,
         v->denoiser->n_patterns);
}


int denoiser_main(int argc, char **argv) {
  const char *prog = argv[0];
  const ditc_variant *v = ditc_variant_get();
  DITC_CHECK(v->denoiser != NULL); /* a network links network/main.c */
  options o;
  if (parse(argc, argv, &o, v) || check_flags(&o, prog)) return 1;
  if (o.print_schedule) {
    fputs(v->denoiser->schedule_text, stdout);
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
  if (o.threads <= 0 && !getenv("OMP_NUM_THREADS")) {
    double load = 0.0;
    int n = omp_get_num_procs();
    if (getloadavg(&load, 1) == 1) n -= (int)(load + 0.5);
    if (!o.comm && o.ranks > 1) n /= o.ranks;
    o.threads = n > 1 ? n : 1;
  }
  if (o.threads > 0) omp_set_num_threads(o.threads); /* thread ranks set it again: it is per thread */
#endif
  ditc_err err = {{0}};
  const int world = (v->denoiser->cfg_parallel ? 2 : 1) * v->denoiser->sp;
  if (o.forward && world > 1)
    return fail_usage(prog, "%s", "--forward runs single-rank variants (this one is built for several ranks)");
  if (!o.comm && !o.forward && (o.ranks ? o.ranks : 1) != world) {
    fprintf(stderr, "%s: error: %s/%s is built for %d rank%s (%d CFG x %d sequence-parallel): run it with --ranks %d\n",
            prog, v->family, v->name, world, world == 1 ? "" : "s", v->denoiser->cfg_parallel ? 2 : 1, v->denoiser->sp, world);
    return 1;
  }
  if (o.out) { /* before anything is loaded: an output that is an input, a non-file or unwritable */
    const out_input inputs[] = {{"--weights", o.weights}, {"--cond", o.cond}, {"--noise", o.noise},
                                {"--forward", o.forward}}; /* and every shard of --weights */
    const int64_t latent = (int64_t)v->denoiser->Bp * v->denoiser->Cin * v->denoiser->Tx * v->denoiser->Hx * v->denoiser->Wx * 4;
    const int64_t bytes = o.forward ? 2 * latent * v->denoiser->Cout / v->denoiser->Cin : latent * (1 + (o.save_steps ? v->denoiser->steps : 0));
    if (ckpt_out_check("--out", o.out, inputs, 4, "--weights", o.weights, bytes + 65536, &err))
      return error_exit(prog, &err, NULL);
  }
  ditc_comm *nccl = NULL; /* joined before the (possibly large) checkpoint is read */
  if (o.comm && !(nccl = comm_nccl_create(o.comm_timeout, &err))) return error_exit(prog, &err, NULL);
  ditc_model m; /* the weights (and, for --forward, a single-rank arena) */
  if (model_init_weights(&m, v, o.forward != NULL, &err)) /* NCCL: the other ranks learn it at once */
    return nccl ? run_ranks_failed(&o, v, nccl, &err, prog) : error_exit(prog, &err, NULL);
  if (o.has_random) model_random_weights(&m, (uint64_t)o.random_seed);
  else if (model_load_weights(&m, o.weights, &err))
    return nccl ? (model_free(&m), run_ranks_failed(&o, v, nccl, &err, prog)) : error_exit(prog, &err, &m);

  if (o.forward) {
    if (model_attach(&m, &err)) return error_exit(prog, &err, &m);
    struct ditc_dump *d = o.dump ? dump_new(o.dump) : NULL;
    m.ex.dump = d;
    if (model_load_forward(&m, o.forward, o.call, &err)) return error_exit(prog, &err, &m);
    sampler_forward_once(&m);
    st_out_tensor t[257];
    t[0] = model_io_tensor(&m, DITC_IO_OUT, "out");
    const int n = 1 + (d ? dump_tensors(d, "inter.", t + 1, 256) : 0);
    if (d && n == 1) {
      dump_free(d);
      ditc_fail(&err, DITC_EINVAL, "--dump %s captured nothing: unknown name, or a binary built without "
                "DITC_DUMP_ENABLED (use bin/debug/%s-%s)", o.dump, v->family, v->name);
      return error_exit(prog, &err, &m);
    }
    provenance prov;
    provenance_make(&prov, v, &o, "forward");
    const ditc_status s = st_write_meta(o.out, t, n, prov.meta, prov.n, &err);
    dump_free(d);
    if (s) return error_exit(prog, &err, &m);
    model_free(&m);
    return 0;
  }

  const int rc = run_ranks(&o, v, m.weights, nccl, prog);
  model_free(&m);
  return rc;
}