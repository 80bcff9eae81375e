/* cond_main.c: bin/ditc-cond, the last step from a prompt to a DiT's conditioning: the T5
 * encoder's output (last_hidden_state [N, L, C]) and the tokenizer's mask (attention_mask
 * [N, L]) become the --cond file a family's sampler reads.
 *   ditc-cond --family opensora-v1.2 --ids IDS --text TEXT --out COND
 *       y [N, 1, L, C] (the T5 output, upstream's last_hidden_state[:, None]) and mask [N, L];
 *       upstream's unconditional half is the DiT's own null caption (y_embedder.y_embedding),
 *       which the DiT binary adds itself, with the same mask.
 *   ditc-cond --family latte|opensora-plan-v1.1 --ids IDS --text TEXT --negative-ids NIDS
 *             --negative-text NTEXT --out COND
 *       prompt_embeds, negative_prompt_embeds [N, L, C] and mask [N, L], the prompt's mask.
 *       Upstream (mask_feature, one prompt) cuts both to the prompt's k valid tokens; the DiT
 *       binary is built for a fixed L and attends, in both CFG halves, to the tokens the
 *       prompt's mask marks (runtime/cpu/ops.c: cpu_text_mask uses mask row b mod Bp for either
 *       half), and the caption projection works token by token, so the two agree when the mask
 *       is 1 on the first k tokens and 0 after: that is required here. A negative file of one
 *       row serves every prompt.
 * Every file is checked before anything is written: tensors present, integer 0/1 masks with a
 * valid token in each row, float hidden states finite, the rows and lengths of the files
 * agreeing. Bad input: one line naming the file and tensor, exit status 1, no output; usage
 * mistakes exit 2. Not here: tokenizing (tokenize_main.c), the T5 encoder (a generated binary). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load.h"
#include "outfile.h"
#include "safetensors.h"

/* ---- flags ------------------------------------------------------------------------------------ */

typedef enum { COND_OPENSORA_V12, COND_LATTE, COND_OPENSORA_PLAN_V11 } cond_family;

static const struct {
  const char *name;
  cond_family family;
  int negative; /* 1: a T5-encoded negative prompt (Latte style); 0: the DiT's null caption */
} FAMILIES[] = {
    {"opensora-v1.2", COND_OPENSORA_V12, 0},
    {"latte", COND_LATTE, 1},
    {"opensora-plan-v1.1", COND_OPENSORA_PLAN_V11, 1},
};
#define N_FAMILIES (int)(sizeof FAMILIES / sizeof FAMILIES[0])

typedef struct {
  const char *family, *ids, *text, *neg_ids, *neg_text, *out;
} cond_options;

#define OFF(f) offsetof(cond_options, f)
static const struct {
  const char *name;
  size_t off;
  const char *arg, *help;
} FLAGS[] = {
    {"--family", OFF(family), "NAME", "opensora-v1.2, latte or opensora-plan-v1.1"},
    {"--ids", OFF(ids), "FILE", "the prompts' ids file of bin/ditc-tokenize --pipeline (attention_mask [N, L])"},
    {"--text", OFF(text), "FILE", "the T5 binary's output for those ids (last_hidden_state [N, L, C])"},
    {"--negative-ids", OFF(neg_ids), "FILE", "latte, opensora-plan-v1.1: the negative prompt's ids file (1 or N rows)"},
    {"--negative-text", OFF(neg_text), "FILE", "latte, opensora-plan-v1.1: its T5 output"},
    {"--out", OFF(out), "FILE", "the --cond file to write (safetensors)"},
};
#define N_FLAGS (int)(sizeof FLAGS / sizeof FLAGS[0])

static void usage(FILE *f, const char *prog) {
  fprintf(f, "%s: a DiT's --cond file from the T5 encoder's output and the tokenizer's mask\n", prog);
  fprintf(f, "usage: %s --family opensora-v1.2 --ids IDS --text TEXT --out COND\n"
             "       %s --family latte|opensora-plan-v1.1 --ids IDS --text TEXT --negative-ids NIDS\n"
             "           --negative-text NTEXT --out COND\n"
             "writes y [N, 1, L, C] and mask [N, L] (opensora-v1.2), or prompt_embeds, negative_prompt_embeds\n"
             "[N, L, C] and mask [N, L], the prompt's (latte, opensora-plan-v1.1). Exit status: 0 done, 1 bad\n"
             "input (one line naming the file and tensor), 2 usage.\nflags:\n",
          prog, prog);
  for (int i = 0; i < N_FLAGS; i++) {
    char lhs[40];
    snprintf(lhs, sizeof lhs, "%s %s", FLAGS[i].name, FLAGS[i].arg);
    fprintf(f, "  %-22s %s\n", lhs, FLAGS[i].help);
  }
  fprintf(f, "  %-22s %s\n", "--help", "this text (also -h)");
}

static int fail_usage(const char *prog, const char *fmt, const char *arg) {
  fprintf(stderr, "%s: error: ", prog);
  fprintf(stderr, fmt, arg);
  fprintf(stderr, " (see --help)\n");
  return 2;
}

/* Parses argv into o and *fam; returns 0, or the exit status (-1: --help printed). */
static int parse(int argc, char **argv, cond_options *o, int *fam) {
  memset(o, 0, sizeof *o);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout, argv[0]);
      return -1;
    }
    int k = 0;
    while (k < N_FLAGS && strcmp(a, FLAGS[k].name) != 0) k++;
    if (k == N_FLAGS) return fail_usage(argv[0], "unknown argument '%s'", a);
    const char **slot = (const char **)(void *)((char *)o + FLAGS[k].off);
    if (*slot) return fail_usage(argv[0], "%s is given twice", a);
    if (i + 1 >= argc) return fail_usage(argv[0], "%s needs a value", a);
    const char *val = argv[++i];
    if (val[0] == '-' && val[1] == '-') {
      fprintf(stderr, "%s: error: %s needs a value, got the flag '%s' (see --help)\n", argv[0], a, val);
      return 2;
    }
    *slot = val;
  }
  if (!o->family) return fail_usage(argv[0], "%s", "--family NAME is required");
  for (*fam = 0; *fam < N_FAMILIES && strcmp(o->family, FAMILIES[*fam].name) != 0; (*fam)++) {}
  if (*fam == N_FAMILIES)
    return fail_usage(argv[0], "--family takes opensora-v1.2, latte or opensora-plan-v1.1, got '%s'", o->family);
  if (!o->ids || !o->text || !o->out) return fail_usage(argv[0], "%s", "--ids, --text and --out are required");
  if (FAMILIES[*fam].negative && (!o->neg_ids || !o->neg_text))
    return fail_usage(argv[0], "--family %s needs --negative-ids and --negative-text (its negative prompt, e.g. \"\")",
                      o->family);
  if (!FAMILIES[*fam].negative && (o->neg_ids || o->neg_text))
    return fail_usage(argv[0], "%s", "--family opensora-v1.2 takes no negative prompt: its unconditional half is the "
                      "DiT's null caption (leave --negative-ids and --negative-text out)");
  return 0;
}

/* ---- one prompt side: an ids file and its T5 output ------------------------------------------ */

typedef struct {
  const char *ids_path, *text_path;
  st_file ids, text;
  const st_tensor *mask, *hidden; /* attention_mask [n, L], last_hidden_state [n, L, C] */
  int64_t n, L, C;
  int opened;                     /* bit 0: ids, bit 1: text */
} cond_side;

static void side_close(cond_side *s) {
  if (s->opened & 1) st_close(&s->ids);
  if (s->opened & 2) st_close(&s->text);
  s->opened = 0;
}

static int is_int_dtype(st_dtype d) {
  return d == ST_I64 || d == ST_I32 || d == ST_I16 || d == ST_I8 || d == ST_U8 || d == ST_BOOL;
}

/* Opens both files and checks their headers (no data read): the tensors present, their dtypes,
 * and shapes that agree, [n, L] and [n, L, C]. */
static ditc_status side_open(cond_side *s, ditc_err *err) {
  char nb[DITC_SHOWN_MAX];
  ditc_status st = st_open(&s->ids, s->ids_path, err);
  if (st) return st;
  s->opened |= 1;
  if ((st = st_open(&s->text, s->text_path, err))) return st;
  s->opened |= 2;
  s->mask = load_need(&s->ids, "attention_mask", s->ids_path, err, &st);
  if (st) return st;
  if (!is_int_dtype(s->mask->dtype))
    return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' has dtype %s, expected an integer or bool mask", s->ids_path,
                     SHOWN(nb, s->mask->name), st_dtype_name(s->mask->dtype));
  if (s->mask->ndim != 2 || s->mask->shape[0] < 1 || s->mask->shape[1] < 1) {
    char got[128];
    load_shape_str(got, sizeof got, s->mask->ndim, s->mask->shape);
    return ditc_fail(err, DITC_EINVAL, "%s: tensor 'attention_mask' has shape %s, expected [N, L] (N, L >= 1)",
                     s->ids_path, got);
  }
  s->n = s->mask->shape[0];
  s->L = s->mask->shape[1];
  const st_tensor *ids = st_find(&s->ids, "input_ids"); /* not used; where present, the same rows */
  if (ids && (st = load_expect_shape(ids, 2, s->mask->shape, s->ids_path, err))) return st;
  s->hidden = load_need(&s->text, "last_hidden_state", s->text_path, err, &st);
  if (st) return st;
  if (!load_is_float(s->hidden->dtype))
    return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' has dtype %s, expected F32, BF16 or F16", s->text_path,
                     SHOWN(nb, s->hidden->name), st_dtype_name(s->hidden->dtype));
  s->C = s->hidden->ndim == 3 ? s->hidden->shape[2] : 0;
  if (s->C < 1) {
    char got[128];
    load_shape_str(got, sizeof got, s->hidden->ndim, s->hidden->shape);
    return ditc_fail(err, DITC_EINVAL, "%s: tensor 'last_hidden_state' has shape %s, expected [N, L, C] with the ids' "
                     "N = %lld and L = %lld (%s)", s->text_path, got, (long long)s->n, (long long)s->L, s->ids_path);
  }
  if (s->hidden->shape[0] != s->n || s->hidden->shape[1] != s->L) {
    char got[128];
    load_shape_str(got, sizeof got, 3, s->hidden->shape);
    return ditc_fail(err, DITC_EINVAL, "%s: tensor 'last_hidden_state' has shape %s, expected [%lld, %lld, C]: the "
                     "rows and length of %s", s->text_path, got, (long long)s->n, (long long)s->L, s->ids_path);
  }
  return DITC_OK;
}

/* What the guarded reads fill: the mask as int64 [n, L] and the hidden states as fp32 [n, L, C]. */
typedef struct {
  const cond_side *s;
  int prefix;     /* 1: each mask row must be 1 on its first k tokens and 0 after */
  int64_t *mask;
  float *hidden;
} side_read;

static ditc_status read_mask(void *arg, ditc_err *err) {
  const side_read *r = arg;
  const cond_side *s = r->s;
  for (int64_t b = 0; b < s->n; b++) {
    int64_t valid = 0;
    for (int64_t j = 0; j < s->L; j++) {
      const double x = st_get(s->mask, b * s->L + j);
      if (x != 0.0 && x != 1.0)
        return ditc_fail(err, DITC_EINVAL, "%s: tensor 'attention_mask' must hold 0/1, has %g at [%lld, %lld]",
                         s->ids_path, x, (long long)b, (long long)j);
      if (r->prefix && x == 1.0 && valid < j)
        return ditc_fail(err, DITC_EINVAL, "%s: tensor 'attention_mask' row %lld has a 1 at %lld after a 0 at %lld: "
                         "the valid tokens must come first (as the T5 tokenizer writes them)", s->ids_path,
                         (long long)b, (long long)j, (long long)valid);
      valid += x == 1.0;
      r->mask[b * s->L + j] = (int64_t)x;
    }
    if (!valid)
      return ditc_fail(err, DITC_EINVAL, "%s: tensor 'attention_mask' row %lld has no valid token", s->ids_path,
                       (long long)b);
  }
  return DITC_OK;
}

static ditc_status read_hidden(void *arg, ditc_err *err) {
  const side_read *r = arg;
  ditc_status st = load_check_float(r->s->hidden, r->s->text_path, err);
  if (!st) load_copy_float(r->hidden, r->s->hidden, 0, r->s->hidden->numel);
  return st;
}

/* Reads the side's data into mask and hidden, each file under st_guarded. */
static ditc_status side_read_data(const cond_side *s, int prefix, int64_t *mask, float *hidden, ditc_err *err) {
  side_read r = {s, prefix, mask, hidden};
  ditc_status st = st_guarded(&s->ids, read_mask, &r, err);
  if (!st) st = st_guarded(&s->text, read_hidden, &r, err);
  return st;
}

/* ---- main ------------------------------------------------------------------------------------- */

static ditc_status run(const cond_options *o, int fam, ditc_err *err) {
  const int latte = FAMILIES[fam].negative;
  cond_side p = {.ids_path = o->ids, .text_path = o->text}, q = {.ids_path = o->neg_ids, .text_path = o->neg_text};
  int64_t *mask = NULL, *neg_mask = NULL;
  float *y = NULL, *neg = NULL;
  ditc_status st = side_open(&p, err);
  if (!st && latte) st = side_open(&q, err);
  if (!st && latte && (q.L != p.L || q.C != p.C || (q.n != 1 && q.n != p.n))) {
    char rows[48];
    snprintf(rows, sizeof rows, p.n == 1 ? "1" : "1 or %lld", (long long)p.n);
    st = ditc_fail(err, DITC_EINVAL, "%s: tensor 'last_hidden_state' has shape [%lld, %lld, %lld], expected [%s, "
                   "%lld, %lld]: one negative row for every prompt or one per prompt, of the prompts' length and "
                   "width (%s)", o->neg_text, (long long)q.n, (long long)q.L, (long long)q.C, rows, (long long)p.L,
                   (long long)p.C, o->text);
  }
  const int64_t rows = p.n * p.L, elems = rows * p.C;
  if (!st) {
    const out_input inputs[4] = {{"--ids", o->ids}, {"--text", o->text}, {"--negative-ids", o->neg_ids},
                                 {"--negative-text", o->neg_text}};
    st = out_check("--out", o->out, inputs, 4, (latte ? 2 : 1) * elems * 4 + rows * 8 + 4096, err);
  }
  if (!st) {
    mask = malloc((size_t)rows * sizeof *mask);
    y = malloc((size_t)elems * sizeof *y);
    neg_mask = latte ? malloc((size_t)q.n * p.L * sizeof *neg_mask) : NULL;
    neg = latte ? malloc((size_t)elems * sizeof *neg) : NULL;
    if (!mask || !y || (latte && (!neg_mask || !neg)))
      st = ditc_fail(err, DITC_ENOMEM, "%s: out of memory for %lld x %lld x %lld values", o->text, (long long)p.n,
                     (long long)p.L, (long long)p.C);
  }
  if (!st) st = side_read_data(&p, latte, mask, y, err);
  if (!st && latte) st = side_read_data(&q, 0, neg_mask, neg, err);
  for (int64_t b = 1; !st && latte && q.n == 1 && b < p.n; b++) /* one negative for every prompt */
    memcpy(neg + b * p.L * p.C, neg, (size_t)(p.L * p.C) * sizeof *neg);
  if (!st) {
    const st_meta meta[1] = {{"family", FAMILIES[fam].name}};
    if (latte) {
      const st_out_tensor t[3] = {
          {.name = "prompt_embeds", .dtype = ST_F32, .ndim = 3, .shape = {p.n, p.L, p.C}, .data = y},
          {.name = "negative_prompt_embeds", .dtype = ST_F32, .ndim = 3, .shape = {p.n, p.L, p.C}, .data = neg},
          {.name = "mask", .dtype = ST_I64, .ndim = 2, .shape = {p.n, p.L}, .data = mask},
      };
      st = st_write_meta(o->out, t, 3, meta, 1, err);
    } else {
      const st_out_tensor t[2] = {
          {.name = "y", .dtype = ST_F32, .ndim = 4, .shape = {p.n, 1, p.L, p.C}, .data = y},
          {.name = "mask", .dtype = ST_I64, .ndim = 2, .shape = {p.n, p.L}, .data = mask},
      };
      st = st_write_meta(o->out, t, 2, meta, 1, err);
    }
  }
  free(mask);
  free(neg_mask);
  free(y);
  free(neg);
  side_close(&p);
  side_close(&q);
  return st;
}

int main(int argc, char **argv) {
  cond_options o;
  int fam = 0;
  const int pr = parse(argc, argv, &o, &fam);
  if (pr) return pr < 0 ? 0 : pr;
  ditc_err err;
  if (run(&o, fam, &err) != DITC_OK) {
    fprintf(stderr, "%s: error: %s\n", argv[0], err.msg);
    return 1;
  }
  return 0;
}
