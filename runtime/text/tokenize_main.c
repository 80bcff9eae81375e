/* tokenize_main.c: bin/ditc-tokenize, the T5 tokenizer on the command line.
 *   ditc-tokenize --spiece FILE --kind sp|slow|fast --in PROMPTS.json
 *       prints a JSON array: one array of token ids per prompt of the input's JSON array of
 *       strings (sp: plain sentencepiece ids; slow/fast: T5Tokenizer / T5TokenizerFast with EOS;
 *       no truncation or padding);
 *   ditc-tokenize ... --kind slow|fast --max-length L --out FILE.safetensors
 *       writes the padded batch instead: input_ids and attention_mask, I64 [N, L].
 * Usage mistakes exit 2, bad input (a corrupt model, a prompts file that is not an array of
 * strings) exits 1 with one line naming the file and field; nothing is printed or written
 * unless every prompt was tokenized. Not here: caption cleaning (clean.c), the tokenizer's
 * rules (tokenizer.c). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "outfile.h"
#include "safetensors.h"
#include "slurp.h"
#include "tokenizer.h"

/* The largest prompts file read. */
#define MAX_PROMPTS_FILE (256u << 20)
#define MAX_LENGTH_LIMIT 1000000
/* The most prompts one file may hold (the JSON tree costs 40 bytes a value). */
#define MAX_PROMPTS (1 << 20)

/* ---- flags ------------------------------------------------------------------------------------ */

typedef struct {
  const char *spiece, *kind_name, *in, *out;
  long long max_length;       /* 0: not given */
  tok_kind kind;
} tok_options;

enum { F_STR, F_INT, F_HELP };
typedef struct {
  const char *name;
  int kind;
  size_t off;
  const char *arg;            /* the value's name in --help */
  const char *help;
} flag_spec;

#define OFF(f) offsetof(tok_options, f)
static const flag_spec FLAGS[] = {
    {"--spiece", F_STR, OFF(spiece), "FILE", "the SentencePiece model (spiece.model)"},
    {"--kind", F_STR, OFF(kind_name), "sp|slow|fast", "sp: plain SentencePiece ids; slow: T5Tokenizer; fast: "
     "T5TokenizerFast (both with EOS)"},
    {"--in", F_STR, OFF(in), "PROMPTS.json", "a JSON array of prompt strings"},
    {"--max-length", F_INT, OFF(max_length), "L", "truncate to L-1 ids, EOS, pad to L (with --out; slow|fast)"},
    {"--out", F_STR, OFF(out), "FILE", "write input_ids and attention_mask, I64 [N, L], as safetensors (with "
     "--max-length)"},
    /* ---- caption cleaning (runtime/text/clean.[ch]) adds its flags here: --clean N, --print-text,
     * --pipeline NAME ---- */
    {"--help", F_HELP, 0, NULL, "this text (also -h)"},
};
#define N_FLAGS (int)(sizeof FLAGS / sizeof FLAGS[0])

static void usage(FILE *f, const char *prog) {
  fprintf(f, "%s: the T5 tokenizer (SentencePiece unigram) of ditc\n", prog);
  fprintf(f, "usage: %s --spiece FILE --kind sp|slow|fast --in PROMPTS.json\n"
             "       %s --spiece FILE --kind slow|fast --in PROMPTS.json --max-length L --out FILE.safetensors\n"
             "Without --out, prints a JSON array with one array of token ids per prompt (no truncation, no\n"
             "padding). Exit status: 0 done, 1 bad input (one line naming the file), 2 usage.\n",
          prog, prog);
  fprintf(f, "flags:\n");
  for (int i = 0; i < N_FLAGS; i++) {
    char lhs[40];
    snprintf(lhs, sizeof lhs, "%s%s%s", FLAGS[i].name, FLAGS[i].arg ? " " : "", FLAGS[i].arg ? FLAGS[i].arg : "");
    fprintf(f, "  %-26s %s\n", lhs, FLAGS[i].help);
  }
}

static int fail_usage(const char *prog, const char *fmt, const char *arg) {
  fprintf(stderr, "%s: error: ", prog);
  fprintf(stderr, fmt, arg);
  fprintf(stderr, " (see --help)\n");
  return 2;
}

/* Parses and cross-checks argv into o; returns 0, or the exit status (-1: --help printed). */
static int parse(int argc, char **argv, tok_options *o) {
  memset(o, 0, sizeof *o);
  int seen[N_FLAGS] = {0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int k = 0;
    while (k < N_FLAGS && strcmp(a, FLAGS[k].name) != 0) k++;
    if (k == N_FLAGS && !strcmp(a, "-h")) k = N_FLAGS - 1;
    if (k == N_FLAGS) return fail_usage(argv[0], "unknown argument '%s'", a);
    const flag_spec *fl = &FLAGS[k];
    if (fl->kind == F_HELP) {
      usage(stdout, argv[0]);
      return -1;
    }
    if (seen[k]++) return fail_usage(argv[0], "%s is given twice", a);
    if (i + 1 >= argc) return fail_usage(argv[0], "%s needs a value", a);
    const char *val = argv[++i];
    if (val[0] == '-' && val[1] == '-') {
      fprintf(stderr, "%s: error: %s needs a value, got the flag '%s' (see --help)\n", argv[0], a, val);
      return 2;
    }
    char *base = (char *)o;
    if (fl->kind == F_STR) {
      *(const char **)(void *)(base + fl->off) = val;
      continue;
    }
    long long n = 0;
    const char *c = val;
    for (; *c >= '0' && *c <= '9' && n <= MAX_LENGTH_LIMIT; c++) n = n * 10 + (*c - '0');
    if (!*val || *c || n < 2 || n > MAX_LENGTH_LIMIT) {
      fprintf(stderr, "%s: error: %s needs an integer in 2..%d (digits only), got '%s' (see --help)\n", argv[0], a,
              MAX_LENGTH_LIMIT, val);
      return 2;
    }
    *(long long *)(void *)(base + fl->off) = n;
  }
  if (!o->spiece) return fail_usage(argv[0], "%s", "--spiece FILE is required");
  if (!o->kind_name) return fail_usage(argv[0], "%s", "--kind sp|slow|fast is required");
  if (!o->in) return fail_usage(argv[0], "%s", "--in PROMPTS.json is required");
  if (!strcmp(o->kind_name, "sp")) o->kind = TOK_SP;
  else if (!strcmp(o->kind_name, "slow")) o->kind = TOK_SLOW;
  else if (!strcmp(o->kind_name, "fast")) o->kind = TOK_FAST;
  else return fail_usage(argv[0], "--kind takes sp, slow or fast, got '%s'", o->kind_name);
  if (!o->max_length != !o->out) return fail_usage(argv[0], "%s", "--max-length and --out go together");
  if (o->max_length && o->kind == TOK_SP)
    return fail_usage(argv[0], "%s", "--max-length pads the T5 tokenizers' output: use --kind slow or fast");
  return 0;
}

/* ---- prompts ---------------------------------------------------------------------------------- */

static const char *kind_of(json_kind k) {
  static const char *const names[] = {"null", "a boolean", "a number", "a string", "an array", "an object"};
  return names[k];
}

/* Reads path as a non-empty JSON array of strings into *doc. */
static ditc_status read_prompts(const char *path, json_doc *doc, ditc_err *err) {
  memset(doc, 0, sizeof *doc);
  char *text;
  size_t len;
  ditc_status st = slurp_file(path, MAX_PROMPTS_FILE, &text, &len, err);
  if (st != DITC_OK) return st;
  json_error je;
  const json_limits lim = {.max_depth = 2, .max_items = MAX_PROMPTS, .max_values = MAX_PROMPTS + 16};
  st = json_parse(text, len, &lim, doc, &je);
  free(text);
  if (st != DITC_OK) return ditc_fail(err, st, "%s: malformed JSON at byte %zu: %s", path, je.offset, je.reason);
  const json_value *r = &doc->root;
  if (r->kind != JSON_ARRAY)
    st = ditc_fail(err, DITC_EINVAL, "%s: the top level is %s, expected an array of prompt strings", path,
                   kind_of(r->kind));
  else if (r->count == 0)
    st = ditc_fail(err, DITC_EINVAL, "%s: the array holds no prompts", path);
  for (int i = 0; st == DITC_OK && i < r->count; i++)
    if (r->items[i].kind != JSON_STRING)
      st = ditc_fail(err, DITC_EINVAL, "%s: element %d (byte %zu) is %s, expected a prompt string", path, i,
                     r->items[i].offset, kind_of(r->items[i].kind));
  if (st != DITC_OK) json_free(doc);
  return st;
}

/* ---- output ----------------------------------------------------------------------------------- */

static int print_ids(const int32_t *ids, const size_t *row_start, int n) {
  text_buf b = {0};
  int ok = text_buf_append(&b, "[", 1);
  for (int i = 0; ok && i < n; i++) {
    const char *open = i ? ",\n [" : "[";
    ok = text_buf_append(&b, open, strlen(open));
    for (size_t k = row_start[i]; ok && k < row_start[i + 1]; k++) {
      char num[16];
      const int len = snprintf(num, sizeof num, "%s%d", k > row_start[i] ? ", " : "", (int)ids[k]);
      ok = text_buf_append(&b, num, (size_t)len);
    }
    ok = ok && text_buf_append(&b, "]", 1);
  }
  ok = ok && text_buf_append(&b, "]\n", 2);
  ok = ok && fwrite(b.p, 1, b.len, stdout) == b.len && fflush(stdout) == 0;
  text_buf_free(&b);
  return ok;
}

/* ---- main ------------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
  tok_options o;
  const int pr = parse(argc, argv, &o);
  if (pr) return pr < 0 ? 0 : pr;

  ditc_err err;
  json_doc doc;
  tokenizer tok;
  if (read_prompts(o.in, &doc, &err) != DITC_OK) {
    fprintf(stderr, "%s: error: %s\n", argv[0], err.msg);
    return 1;
  }
  const int n = doc.root.count;
  const size_t L = (size_t)o.max_length;
  ditc_status st = DITC_OK;
  if (o.out) {
    const out_input inputs[2] = {{"--spiece", o.spiece}, {"--in", o.in}};
    st = out_check("--out", o.out, inputs, 2, (int64_t)n * (int64_t)L * 16 + 4096, &err);
  }
  if (st == DITC_OK) st = tok_load(&tok, o.spiece, &err);
  if (st != DITC_OK) {
    fprintf(stderr, "%s: error: %s\n", argv[0], err.msg);
    json_free(&doc);
    return 1;
  }

  tok_scratch scratch = {0};
  id_list content = {0}, all = {0};
  size_t *row_start = malloc(((size_t)n + 1) * sizeof *row_start);
  int64_t *ids64 = L ? malloc((size_t)n * L * sizeof *ids64) : NULL;
  int64_t *mask64 = L ? malloc((size_t)n * L * sizeof *mask64) : NULL;
  int32_t *row = NULL, *mask = L ? malloc(L * sizeof *mask) : NULL; /* one finished row */
  if (!row_start || (L && (!ids64 || !mask64 || !mask)))
    st = ditc_fail(&err, DITC_ENOMEM, "%s: out of memory for %d prompts", o.in, n);
  if (row_start) row_start[0] = 0;
  for (int i = 0; st == DITC_OK && i < n; i++) {
    const json_str *p = &doc.root.items[i].str;
    if ((st = tok_encode(&tok, o.kind, p->s, p->len, &scratch, &content, &err)) != DITC_OK) break;
    int32_t *r = realloc(row, (L ? L : content.len + 1) * sizeof *r);
    if (!r) {
      st = ditc_fail(&err, DITC_ENOMEM, "%s: out of memory at prompt %d", o.in, i);
      break;
    }
    row = r;
    const size_t len = tok_finish(&tok, o.kind, content.p, content.len, L, row, mask);
    for (size_t k = 0; k < L; k++) {
      ids64[(size_t)i * L + k] = row[k];
      mask64[(size_t)i * L + k] = mask[k];
    }
    for (size_t k = 0; !L && k < len && st == DITC_OK; k++)
      if (!id_list_push(&all, row[k])) st = ditc_fail(&err, DITC_ENOMEM, "%s: out of memory at prompt %d", o.in, i);
    row_start[i + 1] = all.len;
  }

  if (st == DITC_OK && o.out) {
    const st_out_tensor t[2] = {
        {.name = "input_ids", .dtype = ST_I64, .ndim = 2, .shape = {n, (int64_t)L}, .data = ids64},
        {.name = "attention_mask", .dtype = ST_I64, .ndim = 2, .shape = {n, (int64_t)L}, .data = mask64},
    };
    st = st_write(o.out, t, 2, &err);
  } else if (st == DITC_OK && !print_ids(all.p, row_start, n)) {
    st = ditc_fail(&err, DITC_EIO, "standard output: cannot write the ids");
  }
  if (st != DITC_OK) fprintf(stderr, "%s: error: %s\n", argv[0], err.msg);
  free(row);
  free(mask);
  free(row_start);
  free(ids64);
  free(mask64);
  id_list_free(&content);
  id_list_free(&all);
  tok_scratch_free(&scratch);
  tok_free(&tok);
  json_free(&doc);
  return st == DITC_OK ? 0 : 1;
}
