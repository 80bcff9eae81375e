/* tok_bench.c: the T5 tokenizer's rate (prompts per second) on the fixture's prompts, for
 * `ninja bench`: usage tok_bench SPIECE CASES.json [ROUNDS]. Reads the `text` of every case of
 * tokenizer_cases.json, warms up with one pass per kind, then runs ROUNDS (default 15) rounds
 * of one timed pass per kind, the kinds in rotating order, and prints per kind the median
 * prompts/s with the min..max spread and the mean bytes per prompt. Not a test: nothing here
 * fails on a number. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "text/slurp.h"
#include "text/tokenizer.h"
#include "timing.h"

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s SPIECE CASES.json [ROUNDS]\n", argv[0]);
    return 2;
  }
  const int rounds = argc > 3 ? atoi(argv[3]) : 15;
  if (rounds < 1 || rounds > 1000) {
    fprintf(stderr, "%s: ROUNDS must be 1..1000\n", argv[0]);
    return 2;
  }
  ditc_err err;
  tokenizer tok;
  char *text;
  size_t len;
  json_doc doc;
  json_error je;
  if (tok_load(&tok, argv[1], &err) != DITC_OK || slurp_file(argv[2], 64u << 20, &text, &len, &err) != DITC_OK) {
    fprintf(stderr, "%s: error: %s\n", argv[0], err.msg);
    return 1;
  }
  if (json_parse(text, len, NULL, &doc, &je) != DITC_OK) {
    fprintf(stderr, "%s: error: %s: malformed JSON at byte %zu: %s\n", argv[0], argv[2], je.offset, je.reason);
    return 1;
  }
  free(text);
  const json_value *cases = json_get(&doc.root, "cases");
  if (!cases || cases->kind != JSON_ARRAY || cases->count == 0) {
    fprintf(stderr, "%s: error: %s: no 'cases' array\n", argv[0], argv[2]);
    return 1;
  }
  const int n = cases->count;
  const json_str **texts = malloc((size_t)n * sizeof *texts);
  size_t bytes = 0;
  for (int i = 0; i < n; i++) {
    const json_value *t = json_get(&cases->items[i], "text");
    if (!t || t->kind != JSON_STRING) {
      fprintf(stderr, "%s: error: %s: case %d has no 'text' string\n", argv[0], argv[2], i);
      return 1;
    }
    texts[i] = &t->str;
    bytes += t->str.len;
  }
  static const char *const names[3] = {"sp", "slow", "fast"};
  double rate[3][1000];
  tok_scratch s = {0};
  id_list ids = {0};
  size_t n_ids = 0;
  for (int r = -1; r < rounds; r++) {
    for (int j = 0; j < 3; j++) {
      const int k = (r < 0 ? j : (j + r) % 3); /* rotate the order of the kinds */
      const double t0 = now();
      for (int i = 0; i < n; i++) {
        if (tok_encode(&tok, (tok_kind)k, texts[i]->s, texts[i]->len, &s, &ids, &err) != DITC_OK) {
          fprintf(stderr, "%s: error: %s\n", argv[0], err.msg);
          return 1;
        }
        n_ids += ids.len;
      }
      if (r >= 0) rate[k][r] = n / (now() - t0);
    }
  }
  printf("T5 tokenizer on %d fixture prompts (%.0f bytes each on average), %d rounds after a warm-up:\n", n,
         (double)bytes / n, rounds);
  for (int k = 0; k < 3; k++) {
    qsort(rate[k], (size_t)rounds, sizeof rate[k][0], cmp_double);
    printf("  %-4s %9.0f prompts/s (median; min %.0f, max %.0f)\n", names[k], rate[k][rounds / 2], rate[k][0],
           rate[k][rounds - 1]);
  }
  if (n_ids == 0) printf("(no ids?)\n");
  tok_scratch_free(&s);
  id_list_free(&ids);
  free(texts);
  json_free(&doc);
  tok_free(&tok);
  return 0;
}
