/* tokenize_main.c: bin/ditc-tokenize, the T5 tokenizer and the pipelines' prompt preprocessing
 * on the command line.
 *   ditc-tokenize --spiece FILE --kind sp|slow|fast --in PROMPTS.json [--clean N]
 *       prints a JSON array: one array of token ids per prompt of the input's JSON array of
 *       strings (sp: plain sentencepiece ids; slow/fast: T5Tokenizer / T5TokenizerFast with EOS;
 *       no truncation or padding); --clean N runs upstream's _clean_caption N times first (0:
 *       the non-cleaning path, lower() and strip());
 *   ditc-tokenize ... --kind slow|fast --max-length L --out FILE.safetensors
 *       writes the padded batch instead: input_ids and attention_mask, I64 [N, L];
 *   ditc-tokenize --pipeline opensora-v1.2|latte|opensora-plan-v1.1 --spiece FILE --in ... --out F
 *       a pipeline's whole preprocessing (its score suffix, two cleaning passes, its tokenizer
 *       kind and max length); --kind, --max-length or --clean may repeat the pipeline's own
 *       value, and a different one is refused as a usage mistake;
 *   ditc-tokenize --print-text ...
 *       prints the JSON array of the strings that would be tokenized (no model read).
 * Usage mistakes exit 2, bad input (a corrupt model, a prompts file that is not an array of
 * strings, a prompt the cleaner fails on) exits 1 with one line naming the file and field;
 * nothing is printed or written unless every prompt was processed. Not here: the cleaning
 * (clean.c), the tokenizer's rules (tokenizer.c). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "outfile.h"
#include "safetensors.h"
#include "slurp.h"
#include "text/buf.h"
#include "text/clean.h"
#include "tokenizer.h"

/* The largest prompts file read. */
#define MAX_PROMPTS_FILE (256u << 20)
#define MAX_LENGTH_LIMIT 1000000
/* The most cleaning passes --clean takes (upstream makes 2; more change nothing on the fixture). */
#define MAX_CLEAN_PASSES 16
/* The most prompts one file may hold (the JSON tree costs 40 bytes a value). */
#define MAX_PROMPTS (1 << 20)

/* ---- flags ------------------------------------------------------------------------------------ */

typedef struct {
  const char *spiece, *kind_name, *in, *out, *pipeline_name;
  long long max_length;       /* 0: not given */
  long long clean;            /* cleaning passes; -1: not given (the prompts as they are) */
  long long print_text;       /* 1: print the preprocessed strings instead of ids */
  tok_kind kind;
  int has_pipeline;
  text_pipeline pipeline;
} tok_options;

enum { F_STR, F_INT, F_BOOL, F_HELP };
typedef struct {
  const char *name;
  int kind;
  size_t off;
  long long lo, hi;           /* F_INT: the accepted range */
  const char *arg;            /* the value's name in --help */
  const char *help;
} flag_spec;

#define OFF(f) offsetof(tok_options, f)
#define HELP_INDENT "                             " /* under the help column of usage() */
static const flag_spec FLAGS[] = {
    {"--spiece", F_STR, OFF(spiece), 0, 0, "FILE", "the SentencePiece model (spiece.model); not read with "
     "--print-text"},
    {"--kind", F_STR, OFF(kind_name), 0, 0, "sp|slow|fast", "sp: plain SentencePiece ids; slow: T5Tokenizer; fast: "
     "T5TokenizerFast (both with EOS)"},
    {"--in", F_STR, OFF(in), 0, 0, "PROMPTS.json", "a JSON array of prompt strings"},
    {"--max-length", F_INT, OFF(max_length), 2, MAX_LENGTH_LIMIT, "L", "truncate to L-1 ids, EOS, pad to L (with "
     "--out; slow|fast)"},
    {"--out", F_STR, OFF(out), 0, 0, "FILE", "write input_ids and attention_mask, I64 [N, L], as safetensors (with "
     "--max-length or --pipeline)"},
    /* ---- caption cleaning (runtime/text/clean.[ch]) ---- */
    {"--clean", F_INT, OFF(clean), 0, MAX_CLEAN_PASSES, "N", "run _clean_caption N times before tokenizing (0: "
     "lower() and strip() only)"},
    {"--pipeline", F_STR, OFF(pipeline_name), 0, 0, "NAME", "a pipeline's preprocessing, kind and max length:\n" HELP_INDENT
     "opensora-v1.2 (score suffix, --clean 2, fast, 300), latte (--clean 2,\n" HELP_INDENT
     "slow, 120), opensora-plan-v1.1 (--clean 2, slow, 300)"},
    {"--print-text", F_BOOL, OFF(print_text), 0, 0, NULL, "print the JSON array of the strings that would be "
     "tokenized instead of ids"},
    {"--help", F_HELP, 0, 0, 0, NULL, "this text (also -h)"},
};
#define N_FLAGS (int)(sizeof FLAGS / sizeof FLAGS[0])

/* What each pipeline tokenizes with (the cleaning is text_preprocess's). */
static const struct {
  text_pipeline p;
  tok_kind kind;
  const char *kind_name;
  long long max_length;
} PIPELINES[] = {
    {TEXT_PIPELINE_OPENSORA_V12, TOK_FAST, "fast", 300},
    {TEXT_PIPELINE_LATTE, TOK_SLOW, "slow", 120},
    {TEXT_PIPELINE_OPENSORA_PLAN_V11, TOK_SLOW, "slow", 300},
};
#define PIPELINE_PASSES 2

static void usage(FILE *f, const char *prog) {
  fprintf(f, "%s: the T5 tokenizer (SentencePiece unigram) and prompt cleaning of ditc\n", prog);
  fprintf(f, "usage: %s --spiece FILE --kind sp|slow|fast --in PROMPTS.json [--clean N]\n"
             "       %s --spiece FILE --kind slow|fast --in PROMPTS.json [--clean N] --max-length L --out FILE\n"
             "       %s --pipeline NAME --spiece FILE --in PROMPTS.json --out FILE.safetensors\n"
             "       %s [--pipeline NAME | --clean N] --in PROMPTS.json --print-text\n"
             "Without --out, prints a JSON array with one array of token ids per prompt (no truncation, no\n"
             "padding). --kind, --max-length and --clean may repeat --pipeline's own value; another value is\n"
             "refused. Exit status: 0 done, 1 bad input (one line naming the file), 2 usage.\n",
          prog, prog, prog, prog);
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

/* A flag that contradicts --pipeline: what the pipeline uses, and the advice. */
static int fail_contradicts(const char *prog, const char *flag, const char *given, const char *pipeline,
                            const char *own) {
  fprintf(stderr, "%s: error: %s %s contradicts --pipeline %s, whose value is %s (leave %s out) (see --help)\n",
          prog, flag, given, pipeline, own, flag);
  return 2;
}

/* Applies --pipeline to o (kind, max length with --out, cleaning), refusing a flag that says
 * otherwise; 0 or the exit status. */
static int apply_pipeline(const char *prog, tok_options *o) {
  ditc_err err;
  if (text_pipeline_find(o->pipeline_name, &o->pipeline, &err) != DITC_OK) return fail_usage(prog, "%s", err.msg);
  o->has_pipeline = 1;
  int k = 0;
  while (PIPELINES[k].p != o->pipeline) k++;
  char own[32], given[32];
  if (o->kind_name && strcmp(o->kind_name, PIPELINES[k].kind_name) != 0)
    return fail_contradicts(prog, "--kind", o->kind_name, o->pipeline_name, PIPELINES[k].kind_name);
  if (o->max_length && o->max_length != PIPELINES[k].max_length) {
    snprintf(own, sizeof own, "%lld", PIPELINES[k].max_length);
    snprintf(given, sizeof given, "%lld", o->max_length);
    return fail_contradicts(prog, "--max-length", given, o->pipeline_name, own);
  }
  if (o->clean >= 0 && o->clean != PIPELINE_PASSES) {
    snprintf(own, sizeof own, "%d", PIPELINE_PASSES);
    snprintf(given, sizeof given, "%lld", o->clean);
    return fail_contradicts(prog, "--clean", given, o->pipeline_name, own);
  }
  if (!o->kind_name) o->kind_name = PIPELINES[k].kind_name;
  if (o->out && !o->max_length) o->max_length = PIPELINES[k].max_length;
  o->clean = PIPELINE_PASSES;
  return 0;
}

/* Parses and cross-checks argv into o; returns 0, or the exit status (-1: --help printed). */
static int parse(int argc, char **argv, tok_options *o) {
  memset(o, 0, sizeof *o);
  o->clean = -1;
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
    char *base = (char *)o;
    if (fl->kind == F_BOOL) {
      *(long long *)(void *)(base + fl->off) = 1;
      continue;
    }
    if (i + 1 >= argc) return fail_usage(argv[0], "%s needs a value", a);
    const char *val = argv[++i];
    if (val[0] == '-' && val[1] == '-') {
      fprintf(stderr, "%s: error: %s needs a value, got the flag '%s' (see --help)\n", argv[0], a, val);
      return 2;
    }
    if (fl->kind == F_STR) {
      *(const char **)(void *)(base + fl->off) = val;
      continue;
    }
    long long n = 0;
    const char *c = val;
    for (; *c >= '0' && *c <= '9' && n <= fl->hi; c++) n = n * 10 + (*c - '0');
    if (!*val || *c || n < fl->lo || n > fl->hi) {
      fprintf(stderr, "%s: error: %s needs an integer in %lld..%lld (digits only), got '%s' (see --help)\n",
              argv[0], a, fl->lo, fl->hi, val);
      return 2;
    }
    *(long long *)(void *)(base + fl->off) = n;
  }
  if (!o->in) return fail_usage(argv[0], "%s", "--in PROMPTS.json is required");
  if (o->print_text && o->out) return fail_usage(argv[0], "%s", "--print-text prints the text: it does not go with --out");
  if (o->print_text && o->max_length)
    return fail_usage(argv[0], "%s", "--print-text prints the text: --max-length pads ids (leave it out)");
  int st;
  if (o->pipeline_name && (st = apply_pipeline(argv[0], o))) return st;
  if (o->kind_name) {
    if (!strcmp(o->kind_name, "sp")) o->kind = TOK_SP;
    else if (!strcmp(o->kind_name, "slow")) o->kind = TOK_SLOW;
    else if (!strcmp(o->kind_name, "fast")) o->kind = TOK_FAST;
    else return fail_usage(argv[0], "--kind takes sp, slow or fast, got '%s'", o->kind_name);
  }
  if (o->print_text) return 0;
  if (!o->spiece) return fail_usage(argv[0], "%s", "--spiece FILE is required (unless --print-text)");
  if (!o->kind_name) return fail_usage(argv[0], "%s", "--kind sp|slow|fast (or --pipeline NAME) is required");
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

/* One prompt as it goes to the tokenizer (or is printed): the input's own bytes, or a malloc'd
 * preprocessed copy (owned). */
typedef struct {
  const char *s;
  size_t len;
  char *owned;
} prompt_text;

/* The text of each prompt after the options' preprocessing: --pipeline, --clean N, or none (the
 * bytes as given; decoded as Python's errors="replace" when they are to be printed as JSON). */
static ditc_status preprocess(const tok_options *o, const json_doc *doc, prompt_text *texts, ditc_err *err) {
  const int n = doc->root.count;
  text_cleaner cleaner;
  const int need_cleaner = o->has_pipeline || o->clean > 0;
  ditc_status st = need_cleaner ? text_cleaner_init(&cleaner, err) : DITC_OK;
  if (st != DITC_OK) return st;
  for (int i = 0; st == DITC_OK && i < n; i++) {
    const json_str *p = &doc->root.items[i].str;
    prompt_text *t = &texts[i];
    if (o->has_pipeline) st = text_preprocess(&cleaner, o->pipeline, p->s, p->len, &t->owned, &t->len, err);
    else if (o->clean > 0) st = text_clean(&cleaner, p->s, p->len, (int)o->clean, &t->owned, &t->len, err);
    else if (o->clean == 0) st = text_no_clean(p->s, p->len, &t->owned, &t->len, err);
    else if (o->print_text) {
      tbuf b = {0};
      utf8_decode_replace(&b, p->s, p->len);
      if (b.oom) {
        tbuf_free(&b);
        st = ditc_fail(err, DITC_ENOMEM, "out of memory");
      } else {
        t->owned = b.p ? b.p : calloc(1, 1); /* tbuf's memory is malloc'd: handed over */
        t->len = b.len;
        if (!t->owned) st = ditc_fail(err, DITC_ENOMEM, "out of memory");
      }
    } else {
      t->s = p->s;
      t->len = p->len;
      continue;
    }
    if (st != DITC_OK) {
      char msg[sizeof err->msg];
      snprintf(msg, sizeof msg, "%s", err->msg);
      st = ditc_fail(err, st, "%s: prompt %d: %s", o->in, i, msg);
    }
    t->s = t->owned;
  }
  if (need_cleaner) text_cleaner_free(&cleaner);
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

/* Appends s[0..len) (valid UTF-8) as a JSON string: '"' and '\' escaped, control characters as
 * \n \t \r or \u00XX, everything else as it is. */
static int json_quote(text_buf *b, const char *s, size_t len) {
  int ok = text_buf_append(b, "\"", 1);
  for (size_t i = 0; ok && i < len; i++) {
    const unsigned char c = (unsigned char)s[i];
    char esc[8];
    if (c == '"' || c == '\\') ok = text_buf_append(b, (const char[]){'\\', (char)c}, 2);
    else if (c == '\n') ok = text_buf_append(b, "\\n", 2);
    else if (c == '\t') ok = text_buf_append(b, "\\t", 2);
    else if (c == '\r') ok = text_buf_append(b, "\\r", 2);
    else if (c < 0x20) ok = text_buf_append(b, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04x", c));
    else ok = text_buf_append(b, &s[i], 1);
  }
  return ok && text_buf_append(b, "\"", 1);
}

static int print_texts(const prompt_text *texts, int n) {
  text_buf b = {0};
  int ok = text_buf_append(&b, "[", 1);
  for (int i = 0; ok && i < n; i++)
    ok = (!i || text_buf_append(&b, ",\n ", 3)) && json_quote(&b, texts[i].s, texts[i].len);
  ok = ok && text_buf_append(&b, "]\n", 2);
  ok = ok && fwrite(b.p, 1, b.len, stdout) == b.len && fflush(stdout) == 0;
  text_buf_free(&b);
  return ok;
}

/* ---- main ------------------------------------------------------------------------------------- */

/* Tokenizes texts[0..n) with the options' kind: prints the ids, or writes the padded batch. */
static ditc_status tokenize(const tok_options *o, const tokenizer *tok, const prompt_text *texts, int n,
                            ditc_err *err) {
  const size_t L = (size_t)o->max_length;
  ditc_status st = DITC_OK;
  tok_scratch scratch = {0};
  id_list content = {0}, all = {0};
  size_t *row_start = malloc(((size_t)n + 1) * sizeof *row_start);
  int64_t *ids64 = L ? malloc((size_t)n * L * sizeof *ids64) : NULL;
  int64_t *mask64 = L ? malloc((size_t)n * L * sizeof *mask64) : NULL;
  int32_t *row = NULL, *mask = L ? malloc(L * sizeof *mask) : NULL; /* one finished row */
  if (!row_start || (L && (!ids64 || !mask64 || !mask)))
    st = ditc_fail(err, DITC_ENOMEM, "%s: out of memory for %d prompts", o->in, n);
  if (row_start) row_start[0] = 0;
  for (int i = 0; st == DITC_OK && i < n; i++) {
    if ((st = tok_encode(tok, o->kind, texts[i].s, texts[i].len, &scratch, &content, err)) != DITC_OK) break;
    int32_t *r = realloc(row, (L ? L : content.len + 1) * sizeof *r);
    if (!r) {
      st = ditc_fail(err, DITC_ENOMEM, "%s: out of memory at prompt %d", o->in, i);
      break;
    }
    row = r;
    const size_t len = tok_finish(tok, o->kind, content.p, content.len, L, row, mask);
    for (size_t k = 0; k < L; k++) {
      ids64[(size_t)i * L + k] = row[k];
      mask64[(size_t)i * L + k] = mask[k];
    }
    for (size_t k = 0; !L && k < len && st == DITC_OK; k++)
      if (!id_list_push(&all, row[k])) st = ditc_fail(err, DITC_ENOMEM, "%s: out of memory at prompt %d", o->in, i);
    row_start[i + 1] = all.len;
  }
  if (st == DITC_OK && o->out) {
    const st_out_tensor t[2] = {
        {.name = "input_ids", .dtype = ST_I64, .ndim = 2, .shape = {n, (int64_t)L}, .data = ids64},
        {.name = "attention_mask", .dtype = ST_I64, .ndim = 2, .shape = {n, (int64_t)L}, .data = mask64},
    };
    st = st_write(o->out, t, 2, err);
  } else if (st == DITC_OK && !print_ids(all.p, row_start, n)) {
    st = ditc_fail(err, DITC_EIO, "standard output: cannot write the ids");
  }
  free(row);
  free(mask);
  free(row_start);
  free(ids64);
  free(mask64);
  id_list_free(&content);
  id_list_free(&all);
  tok_scratch_free(&scratch);
  return st;
}

int main(int argc, char **argv) {
  tok_options o;
  const int pr = parse(argc, argv, &o);
  if (pr) return pr < 0 ? 0 : pr;

  ditc_err err;
  json_doc doc;
  if (read_prompts(o.in, &doc, &err) != DITC_OK) {
    fprintf(stderr, "%s: error: %s\n", argv[0], err.msg);
    return 1;
  }
  const int n = doc.root.count;
  ditc_status st = DITC_OK;
  if (o.out) {
    const out_input inputs[2] = {{"--spiece", o.spiece}, {"--in", o.in}};
    st = out_check("--out", o.out, inputs, 2, (int64_t)n * o.max_length * 16 + 4096, &err);
  }
  tokenizer tok = {0};
  const int loaded = st == DITC_OK && !o.print_text;
  if (loaded) st = tok_load(&tok, o.spiece, &err);
  prompt_text *texts = calloc((size_t)n, sizeof *texts);
  if (st == DITC_OK && !texts) st = ditc_fail(&err, DITC_ENOMEM, "%s: out of memory for %d prompts", o.in, n);
  if (st == DITC_OK) st = preprocess(&o, &doc, texts, &err);
  if (st == DITC_OK && o.print_text) {
    if (!print_texts(texts, n)) st = ditc_fail(&err, DITC_EIO, "standard output: cannot write the text");
  } else if (st == DITC_OK) {
    st = tokenize(&o, &tok, texts, n, &err);
  }
  if (st != DITC_OK) fprintf(stderr, "%s: error: %s\n", argv[0], err.msg);
  for (int i = 0; texts && i < n; i++) free(texts[i].owned);
  free(texts);
  if (loaded) tok_free(&tok);
  json_free(&doc);
  return st == DITC_OK ? 0 : 1;
}
