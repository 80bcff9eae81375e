/* opensora_prompt.c: the structure Open-Sora 1.2's generate() reads out of a prompt before it
 * cleans it (VideoSys pipeline_open_sora.py: extract_json_from_prompts, split_prompt,
 * extract_prompts_loop), for a single generation (loop 0):
 *   - a JSON object from the first '{' on (upstream splits before every '{' and allows one part
 *     after the prompt) with the keys reference_path and mask_strategy: conditioning on reference
 *     images or videos, which ditc does not build, so only empty values are accepted;
 *   - the multi-loop syntax "|0| text |1| text ...": loop 0 uses the text whose loop range
 *     [start, next start) first covers 0 (upstream's extract_prompts_loop), stripped.
 * What is left goes through append_score_to_prompts and the cleaning (clean.c). Every malformed
 * case upstream raises on is a one-line error here. Not here: the cleaning itself. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "text/clean.h"

/* Python's int() of a loop index: optional whitespace, sign and digits (no underscores here). */
static int parse_index(const char *s, size_t n, long *out) {
  size_t i = 0;
  while (i < n && isspace((unsigned char)s[i])) i++;
  int neg = 0;
  if (i < n && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  size_t d0 = i;
  long v = 0;
  while (i < n && isdigit((unsigned char)s[i]) && v < 100000000) v = v * 10 + (s[i++] - '0');
  if (i == d0) return 0;
  while (i < n && isspace((unsigned char)s[i])) i++;
  if (i != n) return 0;
  *out = neg ? -v : v;
  return 1;
}

/* The JSON part: an object whose only keys are reference_path and mask_strategy, each "". */
static ditc_status check_json(const char *s, size_t n, ditc_err *err) {
  json_doc doc = {0};
  json_error je;
  if (json_parse(s, n, NULL, &doc, &je))
    return ditc_fail(err, DITC_EINVAL, "the part from its '{' is not JSON (%s at byte %zu of it): Open-Sora "
                     "reads it as {\"reference_path\": ..., \"mask_strategy\": ...}", je.reason, je.offset);
  ditc_status st = DITC_OK;
  if (doc.root.kind != JSON_OBJECT)
    st = ditc_fail(err, DITC_EINVAL, "the part from its '{' must be a JSON object");
  for (int i = 0; !st && i < doc.root.count; i++) {
    const json_str *k = &doc.root.keys[i];
    const json_value *v = &doc.root.items[i];
    if (strcmp(k->s, "reference_path") && strcmp(k->s, "mask_strategy"))
      st = ditc_fail(err, DITC_EINVAL, "its JSON part has the key '%.40s'; Open-Sora knows only "
                     "reference_path and mask_strategy", k->s);
    else if (v->kind != JSON_STRING || v->str.len != 0)
      st = ditc_fail(err, DITC_EINVAL, "its JSON part gives %s: conditioning on reference images or videos "
                     "is not built (only \"\" is accepted)", k->s);
  }
  json_free(&doc);
  return st;
}

ditc_status opensora_prompt_text(const char *in, size_t len, const char **text, size_t *text_len, ditc_err *err) {
  size_t n = len;
  const char *brace = memchr(in, '{', len);
  if (brace) { /* upstream: re.split(r"(?=[{])") must give at most two parts */
    if (memchr(brace + 1, '{', len - (size_t)(brace + 1 - in)))
      return ditc_fail(err, DITC_EINVAL, "more than one '{' (Open-Sora reads the text before the first as the "
                       "prompt and the rest as one JSON object)");
    ditc_status st = check_json(brace, len - (size_t)(brace - in), err);
    if (st) return st;
    n = (size_t)(brace - in);
  }
  *text = in;
  *text_len = n;
  if (n < 3 || memcmp(in, "|0|", 3)) return DITC_OK;
  /* "|0|" a "|k|" b ...: fields after the first '|' alternate index, text */
  const char *f[2 * 64];
  size_t fl[2 * 64];
  int nf = 0;
  const char *p = in + 1, *end = in + n;
  while (p <= end) {
    const char *bar = memchr(p, '|', (size_t)(end - p));
    const char *e = bar ? bar : end;
    if (nf == 2 * 64) return ditc_fail(err, DITC_EINVAL, "more than 64 loop segments");
    f[nf] = p;
    fl[nf++] = (size_t)(e - p);
    if (!bar) break;
    p = bar + 1;
  }
  if (nf % 2)
    return ditc_fail(err, DITC_EINVAL, "the loop syntax \"|0| text |1| text ...\" ends on an index without text");
  long start[64];
  for (int i = 0; i < nf / 2; i++)
    if (!parse_index(f[2 * i], fl[2 * i], &start[i]))
      return ditc_fail(err, DITC_EINVAL, "loop segment %d's index '%.*s' is not an integer", i,
                       (int)(fl[2 * i] > 20 ? 20 : fl[2 * i]), f[2 * i]);
  /* loop 0's text: text_list (each segment's text repeated end - start times, the last one's end
   * is 1) at index 0, i.e. the first segment whose range is not empty */
  for (int i = 0; i < nf / 2; i++) {
    const long stop = i + 1 < nf / 2 ? start[i + 1] : 1;
    if (stop - start[i] <= 0) continue;
    const char *t = f[2 * i + 1];
    size_t tl = fl[2 * i + 1];
    while (tl && isspace((unsigned char)*t)) t++, tl--; /* str.strip() (ASCII; cleaning strips the rest) */
    while (tl && isspace((unsigned char)t[tl - 1])) tl--;
    *text = t;
    *text_len = tl;
    return DITC_OK;
  }
  return ditc_fail(err, DITC_EINVAL, "no loop segment covers loop 0 (upstream's extract_prompts_loop fails)");
}
