/* main.c: the command line of a pipeline binary (gen/main.lua --pipeline or --model-dir): from a
 * prompt to a video file in one process. Model folders as users download them (--model-dir, or one
 * part elsewhere), one video per prompt (--prompt, repeatable, or --prompt-file), the latents and
 * frames as safetensors (--out), progress per phase on stderr and a summary line (or --json).
 * Every check that can fail (flags, config.json of every part, checkpoints, tokenizer, output
 * paths) runs before the first phase; a failure is one line and exit status 1 (usage: 2), and a
 * failed prompt leaves the earlier prompts' files intact and no file of its own. Not here: the
 * phases (run.c). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "checkpoint.h"
#include "cli.h"
#include "comm.h"
#include "options.h"
#include "ranks.h"
#include "outfile.h"
#include "provenance.h"
#include "run.h"
#include "text/slurp.h"
#include "video/video.h"

enum { MAX_PROMPTS = 100000, MAX_PROMPTS_FILE = 64 << 20, PATH_CAP = 4096 };

typedef struct {
  const char *model_dir, *part_dir[DITC_N_PARTS], *tokenizer_dir, *prompt_file, *negative, *cond, *noise, *out,
      *video, *comm;
  const char **prompts; /* [n_prompts] (argv's, or the file's lines) */
  size_t *prompt_len;
  int n_prompts;
  unsigned long long seed;
  int has_seed, pab_on, save_steps, json, quiet, threads, fps, info, print_plan, print_schedule, allow_nonfinite;
  int ranks, comm_timeout;
} pipe_options;

static const char *const PART_FLAG[DITC_N_PARTS] = {"--text-encoder", "--transformer", "--vae"};

static void usage(FILE *f, const char *prog, const ditc_pipeline *pl) {
  const ditc_variant *den = pl->parts[DITC_PART_DENOISE].v;
  fprintf(f, "%s: the %s/%s pipeline: prompt -> %s -> %s (%s %d steps) -> %s -> video (ditc, ABI %d)\n", prog,
          pl->family, pl->name, pl->parts[DITC_PART_TEXT].v->family, den->family, den->denoiser->sampler,
          den->denoiser->steps, pl->parts[DITC_PART_DECODE].v->family, pl->abi_version);
  fprintf(f,
          "usage: %s --model-dir DIR (--prompt TEXT ... | --prompt-file FILE | --cond FILE)\n"
          "          [--negative-prompt TEXT] [--seed N | --noise FILE] [--pab on|off] [--out FILE.safetensors]\n"
          "          [--save-steps] [--video FILE.mp4|FILE.y4m] [--fps N] [--json] [--quiet] [--threads N]\n"
          "       %s --info | --print-plan | --print-schedule | --help\n"
          "  --model-dir DIR        the released repositories under DIR: %s/, %s/, %s/ (tokenizer: %s/)\n"
          "  --text-encoder DIR     the text encoder's folder elsewhere (config.json and its checkpoint)\n"
          "  --transformer DIR      the transformer's folder elsewhere\n"
          "  --vae DIR              the VAE's folder elsewhere\n"
          "  --tokenizer DIR        the folder of spiece.model elsewhere\n"
          "  --prompt TEXT          a prompt (repeatable: one video each)\n"
          "  --prompt-file FILE     one prompt per line (blank lines skipped), one video each\n"
          "  --negative-prompt TEXT %s\n"
          "  --cond FILE            the DiT's conditioning from your own encoder instead of a prompt (its --cond file)\n"
          "  --seed N               counter-based N(0, 1) noise from N in 0..2^64-1 (default 0); every prompt uses it\n"
          "  --noise FILE           the initial latent z0 from a file\n"
          "  --pab on|off           Pyramid Attention Broadcast (default on: the baked schedule)\n"
          "  --out FILE             safetensors: final (the latent) and frames_u8; with --save-steps also latents\n"
          "                         (every step's), input_ids, attention_mask and the conditioning\n"
          "  --video FILE           .mp4 (H.264, a build with FFmpeg) or .y4m\n"
          "                         (several prompts: FILE-0.mp4, FILE-1.mp4, ...; --out likewise)\n"
          "  --fps N                the video's frame rate (default %d)\n"
          "  --json                 print the summary as JSON on stdout\n"
          "  --quiet                no progress and no summary line on stderr\n"
          "  --threads N            CPU threads (results do not depend on it)\n"
          "  --allow-nonfinite      write results that hold NaN/Inf instead of failing\n"
          "  --ranks P              a parallel variant: its P ranks as threads of this process\n"
          "  --comm nccl            a parallel variant: this process is one NCCL rank (tools/ditc-launch); every\n"
          "                         rank encodes the prompt, rank 0 decodes and writes, the others exit 0\n"
          "  --comm-timeout S       a rank that does not answer within S seconds ends the run (default 300)\n"
          "  --info                 the parts and the memory plan; --print-plan: plan.txt; --print-schedule:\n"
          "                         the transformer's schedule.txt (sampler and PAB tables)\n",
          prog, prog, pl->parts[0].folder, pl->parts[1].folder, pl->parts[2].folder, pl->tokenizer_folder,
          pl->negative ? "the negative prompt (default \"\")" : "(none: this family's unconditional half is its "
                                                                "learned null caption)",
          pl->fps);
}

static int fail_usage(const char *prog, const char *fmt, const char *arg) {
  fprintf(stderr, "%s: error: ", prog);
  fprintf(stderr, fmt, arg);
  fprintf(stderr, " (see --help)\n");
  return 2;
}

/* Parses argv into o; 0, or the exit status (-1: --help printed). */
static int parse(int argc, char **argv, pipe_options *o, const ditc_pipeline *pl) {
  const char *prog = argv[0];
  memset(o, 0, sizeof *o);
  o->pab_on = 1;
  static const char *prompts[MAX_PROMPTS];
  static size_t lens[MAX_PROMPTS];
  o->prompts = prompts;
  o->prompt_len = lens;
  struct {
    const char *name, **dst;
  } strs[] = {{"--model-dir", &o->model_dir}, {"--text-encoder", &o->part_dir[DITC_PART_TEXT]},
               {"--transformer", &o->part_dir[DITC_PART_DENOISE]}, {"--vae", &o->part_dir[DITC_PART_DECODE]},
               {"--tokenizer", &o->tokenizer_dir}, {"--prompt-file", &o->prompt_file},
               {"--negative-prompt", &o->negative}, {"--cond", &o->cond}, {"--noise", &o->noise}, {"--out", &o->out},
               {"--video", &o->video}, {"--comm", &o->comm}};
  enum { NSTR = sizeof strs / sizeof strs[0] };
  struct {
    const char *name;
    int *dst;
  } bools[] = {{"--save-steps", &o->save_steps}, {"--json", &o->json}, {"--quiet", &o->quiet}, {"--info", &o->info},
               {"--print-plan", &o->print_plan}, {"--print-schedule", &o->print_schedule},
               {"--allow-nonfinite", &o->allow_nonfinite}};
  enum { NBOOL = sizeof bools / sizeof bools[0] };
  int seen_pab = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout, prog, pl);
      return -1;
    }
    int k = 0;
    while (k < NBOOL && strcmp(a, bools[k].name)) k++;
    if (k < NBOOL) {
      if ((*bools[k].dst)++) return fail_usage(prog, "%s is given twice", a);
      continue;
    }
    const int known = !strcmp(a, "--prompt") || !strcmp(a, "--seed") || !strcmp(a, "--pab") || !strcmp(a, "--fps") ||
                      !strcmp(a, "--threads") || !strcmp(a, "--ranks") || !strcmp(a, "--comm-timeout");
    for (k = 0; k < NSTR && strcmp(a, strs[k].name); k++) {}
    if (k == NSTR && !known) return fail_usage(prog, "unknown argument '%s'", a);
    if (i + 1 >= argc) return fail_usage(prog, "%s needs a value", a);
    const char *val = argv[++i];
    if (val[0] == '-' && val[1] == '-' && strcmp(a, "--prompt") && strcmp(a, "--negative-prompt")) {
      fprintf(stderr, "%s: error: %s needs a value, got the flag '%s' (a file of that name: ./%s) (see --help)\n", prog,
              a, val, val);
      return 2;
    }
    if (k < NSTR) {
      if (*strs[k].dst) return fail_usage(prog, "%s is given twice", a);
      *strs[k].dst = val;
    } else if (!strcmp(a, "--prompt")) {
      if (o->n_prompts == MAX_PROMPTS) return fail_usage(prog, "more than %s prompts", "100000");
      prompts[o->n_prompts] = val;
      lens[o->n_prompts++] = strlen(val);
    } else if (!strcmp(a, "--pab")) {
      if (seen_pab++) return fail_usage(prog, "%s is given twice", a);
      if (strcmp(val, "on") && strcmp(val, "off")) return fail_usage(prog, "--pab takes on or off, got '%s'", val);
      o->pab_on = !strcmp(val, "on");
    } else if (!strcmp(a, "--seed")) {
      if (o->has_seed++) return fail_usage(prog, "%s is given twice", a);
      if (!cli_u64(val, ~0ull, &o->seed))
        return fail_usage(prog, "--seed needs an integer in 0..18446744073709551615 (digits only), got '%s'", val);
    } else { /* --fps, --threads, --ranks, --comm-timeout: an integer in 1..max */
      const int fps = !strcmp(a, "--fps"), threads = !strcmp(a, "--threads"), ranks = !strcmp(a, "--ranks");
      unsigned long long n;
      int *dst = fps ? &o->fps : threads ? &o->threads : ranks ? &o->ranks : &o->comm_timeout;
      const unsigned long long max = fps ? VIDEO_MAX_FPS : threads ? 4096 : ranks ? 1024 : 86400;
      if (*dst) return fail_usage(prog, "%s is given twice", a);
      if (!cli_u64(val, max, &n) || n < 1) {
        fprintf(stderr, "%s: error: %s takes an integer in 1..%llu, got '%s' (see --help)\n", prog, a, max, val);
        return 2;
      }
      *dst = (int)n;
    }
  }
  if (o->info || o->print_plan || o->print_schedule) return 0;
  const int sources = (o->n_prompts > 0) + (o->prompt_file != NULL) + (o->cond != NULL);
  if (sources != 1) return fail_usage(prog, "%s", "give the prompts one way: --prompt TEXT (repeatable), --prompt-file "
                                                  "FILE or --cond FILE");
  if (o->negative && !pl->negative)
    return fail_usage(prog, "%s", "--negative-prompt: this family's unconditional half is its learned null caption, "
                                  "not a prompt (leave it out)");
  if (o->negative && o->cond) return fail_usage(prog, "%s", "--negative-prompt goes with a prompt, not --cond");
  if (o->noise && o->has_seed) return fail_usage(prog, "%s", "--noise and --seed exclude each other");
  if (!o->out && !o->video) return fail_usage(prog, "%s", "nothing to write: give --out FILE.safetensors or --video FILE");
  if (o->save_steps && !o->out) return fail_usage(prog, "%s", "--save-steps writes into --out FILE");
  if (o->fps && !o->video) return fail_usage(prog, "%s", "--fps applies to --video");
  if (o->tokenizer_dir && o->cond) return fail_usage(prog, "%s", "--tokenizer goes with a prompt, not --cond");
  for (int p = 0; p < DITC_N_PARTS; p++)
    if (!o->model_dir && !o->part_dir[p] && !(p == DITC_PART_TEXT && o->cond))
      return fail_usage(prog, "--model-dir DIR is required (or %s DIR for each part)", PART_FLAG[p]);
  const ditc_denoiser *d = pl->parts[DITC_PART_DENOISE].v->denoiser;
  const int world = (d->cfg_parallel ? 2 : 1) * d->sp;
  if (o->comm && strcmp(o->comm, "nccl")) return fail_usage(prog, "--comm must be nccl, got '%s'", o->comm);
  if (o->comm && o->ranks) return fail_usage(prog, "%s", "--comm nccl and --ranks exclude each other");
  if (!o->comm && (o->ranks ? o->ranks : 1) != world) {
    fprintf(stderr, "%s: error: %s/%s is built for %d rank%s (%d CFG x %d sequence-parallel): run it with --ranks %d, or "
            "--comm nccl under a launcher (see --help)\n", prog, pl->family, pl->name, world, world == 1 ? "" : "s",
            d->cfg_parallel ? 2 : 1, d->sp, world);
    return 2;
  }
  return 0;
}

/* --prompt-file: one prompt per line ("\r\n" too), blank lines skipped; the text is kept in *buf. */
static ditc_status read_prompt_file(pipe_options *o, char **buf, ditc_err *err) {
  size_t len;
  ditc_status s = slurp_file(o->prompt_file, MAX_PROMPTS_FILE, buf, &len, err);
  if (s) return s;
  char *p = *buf, *end = *buf + len;
  while (p < end) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    char *e = nl ? nl : end;
    size_t n = (size_t)(e - p);
    if (n && p[n - 1] == '\r') n--;
    size_t blank = 0;
    while (blank < n && (p[blank] == ' ' || p[blank] == '\t')) blank++;
    if (memchr(p, 0, n))
      return ditc_fail(err, DITC_EINVAL, "%s: line %d holds a NUL byte", o->prompt_file, o->n_prompts + 1);
    if (blank < n) {
      if (o->n_prompts == MAX_PROMPTS)
        return ditc_fail(err, DITC_EINVAL, "%s: more than %d prompts", o->prompt_file, MAX_PROMPTS);
      p[n] = 0;
      o->prompts[o->n_prompts] = p;
      o->prompt_len[o->n_prompts++] = n;
    }
    p = e + 1;
  }
  if (!o->n_prompts) return ditc_fail(err, DITC_EINVAL, "%s: no prompt (one prompt a line)", o->prompt_file);
  return DITC_OK;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Every output path of every generation, before any work: not an input, writable, room for it. */
static ditc_status check_outputs(const pipe_options *o, const pipeline_config *c, int n, ditc_err *err) {
  const ditc_pipeline *pl = c->pl;
  const ditc_variant *den = pl->parts[DITC_PART_DENOISE].v, *vae = pl->parts[DITC_PART_DECODE].v;
  const ditc_io *frames = ditc_io_find(vae, "frames_u8");
  DITC_CHECK(frames != NULL && frames->ndim == 5);
  const int64_t bytes = pl->latent_bytes * (1 + (o->save_steps ? den->denoiser->steps : 0)) + frames->bytes + 65536;
  const out_input inputs[] = {{"--noise", o->noise}, {"--cond", o->cond}, {"--prompt-file", o->prompt_file}};
  char path[PATH_CAP];
  for (int i = 0; i < n; i++) {
    ditc_status s = DITC_OK;
    if (o->out) {
      if (!video_row_path(path, sizeof path, o->out, i, n))
        return ditc_fail(err, DITC_EINVAL, "--out: the path is too long");
      for (int p = 0; p < DITC_N_PARTS && !s; p++)
        if (c->dirs[p]) s = ckpt_out_check("--out", path, inputs, 3, PART_FLAG[p], c->dirs[p], bytes, err);
    }
    if (!s && o->video) {
      if (!video_row_path(path, sizeof path, o->video, i, n))
        return ditc_fail(err, DITC_EINVAL, "--video: the path is too long");
      const out_input vin[] = {{"--noise", o->noise}, {"--cond", o->cond}, {"--prompt-file", o->prompt_file},
                               {"--out", o->out}};
      s = video_check("--video", path, vin, 4, frames->shape[1], frames->shape[2], frames->shape[3],
                      o->fps ? o->fps : pl->fps, err);
    }
    if (s) return s;
  }
  return DITC_OK;
}

/* Generation i's files: --out (final, latents, frames_u8) and --video. */
static ditc_status write_outputs(const pipe_options *o, pipeline_run *r, int i, int n, ditc_err *err) {
  const double t0 = now();
  const ditc_pipeline *pl = r->c.pl;
  const ditc_variant *den = pl->parts[DITC_PART_DENOISE].v;
  char path[PATH_CAP];
  ditc_status s = DITC_OK;
  if (o->out) {
    st_out_tensor t[8];
    int k = 0;
    t[k++] = pipeline_latent(r, "final");
    if (r->latents) {
      t[k] = (st_out_tensor){.name = "latents", .dtype = ST_F32, .ndim = t[0].ndim + 1, .shape = {den->denoiser->steps},
                             .data = r->latents};
      for (int d = 0; d < t[0].ndim; d++) t[k].shape[d + 1] = t[0].shape[d];
      k++;
    }
    t[k++] = pipeline_frames(r);
    DITC_CHECK(den->denoiser->n_inputs <= 3); /* t[]: 3 + ids and mask + the inputs */
    if (o->save_steps) k += pipeline_text_tensors(r, t + k);
    options po = {.noise = o->noise, .seed = o->seed, .pab_on = o->pab_on};
    provenance prov;
    provenance_make(&prov, den, &po, "pipeline");
    video_row_path(path, sizeof path, o->out, i, n);
    s = st_write_meta(path, t, k, prov.meta, prov.n, err);
    if (!s && !o->quiet) fprintf(stderr, "wrote %s\n", path);
  }
  if (!s && o->video) {
    const st_out_tensor f = pipeline_frames(r);
    video_row_path(path, sizeof path, o->video, i, n);
    s = video_write(path, f.data, f.shape[1], f.shape[2], f.shape[3], o->fps ? o->fps : pl->fps, err);
    if (!s && !o->quiet) fprintf(stderr, "wrote %s\n", path);
  }
  r->seconds[PHASE_WRITE] += now() - t0;
  return s;
}

static void info(const ditc_pipeline *pl) {
  printf("pipeline %s/%s, ABI %d, inputs hash %s; tokenizer %s (%s/spiece.model), cleaning %s, weights %s, %d fps\n",
         pl->family, pl->name, pl->abi_version, pl->inputs_hash, pl->tokenizer, pl->tokenizer_folder, pl->clean,
         pl->weights_mode == DITC_WEIGHTS_RELOAD ? "reloaded at each phase" : "resident", pl->fps);
  static const char *const phase[DITC_N_PARTS] = {"text", "denoise", "decode"};
  for (int p = 0; p < DITC_N_PARTS; p++) {
    const ditc_pipeline_part *part = &pl->parts[p];
    printf("%-8s %s/%s from %s/ (%d config.json fields checked), arena %lld bytes, weights %lld bytes\n", phase[p],
           part->v->family, part->v->name, part->folder, part->n_fields, (long long)part->arena_bytes,
           (long long)part->weight_bytes);
  }
  printf("arena %lld bytes (conditioning at %lld, latent at %lld), weights %lld bytes\n", (long long)pl->arena_bytes,
         (long long)pl->off_cond, (long long)pl->off_latent, (long long)pl->weight_bytes);
}

/* The summary: seconds per phase and the memory allocated, as a line on stderr or JSON on stdout. */
static void summary(const pipe_options *o, const pipeline_run *r, int videos, double total) {
  const ditc_pipeline *pl = r->c.pl;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  const double rss = (double)ru.ru_maxrss * 1024.0, M = 1048576.0;
  const double *t = r->seconds;
  if (!o->quiet)
    fprintf(stderr, "done: %d video%s in %.2f s (text %.2f s, denoise %.2f s, decode %.2f s, write %.2f s); memory: "
            "arena %.2f MiB + weights %.2f MiB (%s) = %.2f MiB, as plan.txt; peak RSS %.1f MiB\n", videos,
            videos == 1 ? "" : "s", total, t[PHASE_TEXT], t[PHASE_DENOISE], t[PHASE_DECODE], t[PHASE_WRITE],
            (double)r->arena_bytes / M, (double)r->weight_bytes / M,
            pl->weights_mode == DITC_WEIGHTS_RELOAD ? "reload" : "resident",
            (double)(r->arena_bytes + r->weight_bytes) / M, rss / M);
  if (!o->json) return;
  static const char *const phase[DITC_N_PARTS] = {"text", "denoise", "decode"};
  printf("{\"pipeline\": \"%s/%s\", \"videos\": %d, \"seconds\": {\"text\": %.4f, \"denoise\": %.4f, \"decode\": %.4f, "
         "\"write\": %.4f, \"total\": %.4f},\n \"bytes\": {", pl->family, pl->name, videos, t[PHASE_TEXT],
         t[PHASE_DENOISE], t[PHASE_DECODE], t[PHASE_WRITE], total);
  const int64_t carried = pl->cond_bytes + pl->latent_bytes;
  for (int p = 0; p < DITC_N_PARTS; p++) {
    const ditc_variant *v = pl->parts[p].v;
    const int64_t w = v->weight_elems * 4, held = pl->weights_mode == DITC_WEIGHTS_RELOAD ? w : r->weight_bytes;
    printf("\"%s\": {\"arena\": %lld, \"weights\": %lld, \"peak\": %lld}, ", phase[p], (long long)v->arena_bytes,
           (long long)w, (long long)(v->arena_bytes + carried + held));
  }
  printf("\"arena\": %lld, \"weights\": %lld, \"total\": %lld, \"weights_mode\": \"%s\", \"thread_rank_arenas\": %lld},\n"
         " \"ranks\": %d, \"max_rss_bytes\": %.0f}\n", (long long)r->arena_bytes, (long long)r->weight_bytes,
         (long long)(r->arena_bytes + r->weight_bytes), pl->weights_mode == DITC_WEIGHTS_RELOAD ? "reload" : "resident",
         (long long)r->rank_arena_bytes, r->world, rss);
  fflush(stdout);
}

int main(int argc, char **argv) {
  const char *prog = argv[0];
  const ditc_pipeline *pl = ditc_pipeline_get();
  pipe_options o;
  const int pr = parse(argc, argv, &o, pl);
  if (pr) return pr < 0 ? 0 : pr;
  if (o.print_plan) return fputs(pl->plan_text, stdout) < 0;
  if (o.print_schedule) return fputs(pl->parts[DITC_PART_DENOISE].v->denoiser->schedule_text, stdout) < 0;
  if (o.info) {
    info(pl);
    return 0;
  }
  const ditc_denoiser *d = pl->parts[DITC_PART_DENOISE].v->denoiser;
  const int world = (d->cfg_parallel ? 2 : 1) * d->sp;
  int rank_threads = o.threads; /* the denoise phase's threads a rank */
#ifdef _OPENMP
  if (o.threads > 0) omp_set_num_threads(o.threads);
  if (!o.threads && !o.comm && world > 1) { /* thread ranks share the CPUs (the other phases run on all) */
    const int n = omp_get_num_procs() / world;
    rank_threads = n > 1 ? n : 1;
  }
#endif
  const double t0 = now();
  ditc_err err = {{0}};
  ditc_comm *nccl = NULL; /* joined before anything is read: a rank whose start fails stops the others */
  if (o.comm && !(nccl = comm_nccl_create(o.comm_timeout ? o.comm_timeout : 300.0, &err))) {
    fprintf(stderr, "%s: error: %s\n", prog, err.msg);
    return 1;
  }
  if (nccl && nccl->size != world) {
    fprintf(stderr, "%s: error: %s/%s is built for %d ranks (%d CFG x %d sequence-parallel), not %d (WORLD_SIZE)\n", prog,
            pl->family, pl->name, world, d->cfg_parallel ? 2 : 1, d->sp, nccl->size);
    nccl->destroy(nccl);
    return 1;
  }
  const int writer = !nccl || nccl->rank == 0; /* rank 0 decodes and writes; every rank encodes */
  if (!writer) o.quiet = 1, o.json = 0;
  char *file_text = NULL;
  char dirs[DITC_N_PARTS + 1][PATH_CAP];
  pipeline_config c = {.pl = pl, .progress = !o.quiet, .pab_on = o.pab_on, .allow_nonfinite = o.allow_nonfinite,
                       .threads = rank_threads, .nccl = nccl, .comm_timeout = o.comm_timeout ? o.comm_timeout : 300.0};
  ditc_status s = o.prompt_file ? read_prompt_file(&o, &file_text, &err) : DITC_OK;
  for (int p = 0; p <= DITC_N_PARTS && !s; p++) { /* each part's folder, then the tokenizer's */
    const char *given = p < DITC_N_PARTS ? o.part_dir[p] : o.tokenizer_dir;
    const char *rel = p < DITC_N_PARTS ? pl->parts[p].folder : pl->tokenizer_folder;
    if ((p == DITC_PART_TEXT || p == DITC_N_PARTS) && o.cond) continue;
    if (!given && !o.model_dir) continue; /* the tokenizer of a text encoder given elsewhere: its folder */
    if ((given ? snprintf(dirs[p], PATH_CAP, "%s", given) : snprintf(dirs[p], PATH_CAP, "%s/%s", o.model_dir, rel)) >=
        PATH_CAP)
      s = ditc_fail(&err, DITC_EINVAL, "%s: the path is too long", given ? given : o.model_dir);
    else if (p < DITC_N_PARTS) c.dirs[p] = dirs[p];
    else c.tokenizer_dir = dirs[p];
  }
  /* a tokenizer kept with the text encoder (DeepFloyd's layout) follows --text-encoder */
  if (!s && !o.cond && !o.tokenizer_dir && (!c.tokenizer_dir || (o.part_dir[DITC_PART_TEXT] &&
                                                                 !strcmp(pl->tokenizer_folder, pl->parts[DITC_PART_TEXT].folder))))
    c.tokenizer_dir = c.dirs[DITC_PART_TEXT];
  const int n = o.cond ? 1 : o.n_prompts;
  if (!s && writer) s = check_outputs(&o, &c, n, &err);
  pipeline_run r;
  int opened = 0;
  if (!s) {
    if (!o.quiet)
      fprintf(stderr, "%s/%s: %d video%s; weights %s; arena %.2f MiB (plan.txt)\n", pl->family, pl->name, n,
              n == 1 ? "" : "s", pl->weights_mode == DITC_WEIGHTS_RELOAD ? "reloaded at each phase" : "resident",
              (double)pl->arena_bytes / 1048576.0);
    s = pipeline_open(&r, &c, o.save_steps, &err);
    opened = !s;
  }
  if (s && nccl) { /* the other ranks learn it at their start-up agreement instead of waiting */
    const options ro = {.comm_timeout = c.comm_timeout};
    const int rc = run_ranks_failed(&ro, pl->parts[DITC_PART_DENOISE].v, nccl, &err, prog);
    free(file_text);
    return rc;
  }
  const char *neg = o.negative ? o.negative : pl->negative_default;
  int done = 0;
  for (int i = 0; i < n && !s; i++) {
    if (!o.quiet && n > 1) fprintf(stderr, "[%d/%d] %.*s\n", i + 1, n, (int)(o.prompt_len[i] > 70 ? 70 : o.prompt_len[i]),
                                   o.prompts[i]);
    s = o.cond ? pipeline_cond_file(&r, o.cond, &err)
               : pipeline_text(&r, o.prompts[i], o.prompt_len[i], neg, neg ? strlen(neg) : 0, &err);
    if (!s) s = pipeline_denoise(&r, o.noise, o.seed, &err);
    if (!s && writer) s = pipeline_decode(&r, &err);
    if (!s && writer) s = write_outputs(&o, &r, i, n, &err);
    if (s && n > 1 && err.msg[0]) {
      char msg[sizeof err.msg];
      snprintf(msg, sizeof msg, "%s", err.msg);
      ditc_fail(&err, s, "prompt %d of %d: %s", i + 1, n, msg);
    }
    done += !s;
  }
  if (!s && writer) summary(&o, &r, done, now() - t0);
  if (opened) pipeline_close(&r);
  free(file_text);
  if (nccl) nccl->destroy(nccl);
  if (s) { /* an empty message: another rank printed the run's error line */
    if (err.msg[0]) fprintf(stderr, "%s: error: %s\n", prog, err.msg);
    return 1;
  }
  return 0;
}
