/* config_check.c: a part's config.json against the generated descriptor (config_check.h). Values
 * are compared as canonical JSON text, written the way gen/pipeline/pipeline.lua's canon writes
 * them: integers (and integral numbers below 2^53) in decimal, other numbers %.17g, strings with
 * '"', '\' and control characters escaped, arrays and objects in file order without spaces. Not
 * here: what the fields mean (the generator's families). */
#include "config_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/slurp.h"
#include "text/textbuf.h"

enum { CONFIG_MAX_BYTES = 16 << 20 }; /* a config.json is a few kB */

ditc_status config_read(const char *path, json_doc *doc, ditc_err *err) {
  memset(doc, 0, sizeof *doc);
  char *text;
  size_t len;
  ditc_status s = slurp_file(path, CONFIG_MAX_BYTES, &text, &len, err);
  if (s) return s;
  json_error je;
  s = json_parse(text, len, NULL, doc, &je);
  free(text);
  if (s) return ditc_fail(err, s, "%s: malformed JSON at byte %zu: %s", path, je.offset, je.reason);
  if (doc->root.kind != JSON_OBJECT) {
    json_free(doc);
    return ditc_fail(err, DITC_EINVAL, "%s: the top level is not a JSON object (a config.json)", path);
  }
  return DITC_OK;
}

/* Appends the canonical JSON text of x to b; 0 when out of memory. */
static int canon(text_buf *b, const json_value *x) {
  char num[40];
  switch (x->kind) {
  case JSON_NULL: return text_buf_append(b, "null", 4);
  case JSON_BOOL: return x->boolean ? text_buf_append(b, "true", 4) : text_buf_append(b, "false", 5);
  case JSON_NUMBER: {
    int n;
    if (x->is_int) n = snprintf(num, sizeof num, "%lld", (long long)x->integer);
    else if (x->number == floor(x->number) && fabs(x->number) < 9007199254740992.0)
      n = snprintf(num, sizeof num, "%lld", (long long)x->number);
    else n = snprintf(num, sizeof num, "%.17g", x->number);
    return text_buf_append(b, num, (size_t)n);
  }
  case JSON_STRING: {
    int ok = text_buf_append(b, "\"", 1);
    for (size_t i = 0; ok && i < x->str.len; i++) {
      const unsigned char c = (unsigned char)x->str.s[i];
      if (c == '"' || c == '\\') ok = text_buf_append(b, (const char[]){'\\', (char)c}, 2);
      else if (c < 0x20 || c == 0x7f) ok = text_buf_append(b, num, (size_t)snprintf(num, sizeof num, "\\u%04x", c));
      else ok = text_buf_append(b, (const char *)&c, 1);
    }
    return ok && text_buf_append(b, "\"", 1);
  }
  case JSON_ARRAY:
  case JSON_OBJECT: {
    const int obj = x->kind == JSON_OBJECT;
    int ok = text_buf_append(b, obj ? "{" : "[", 1);
    for (int i = 0; ok && i < x->count; i++) {
      if (i) ok = text_buf_append(b, ",", 1);
      if (ok && obj) {
        const json_value key = {.kind = JSON_STRING, .str = x->keys[i]};
        ok = canon(b, &key) && text_buf_append(b, ":", 1);
      }
      ok = ok && canon(b, &x->items[i]);
    }
    return ok && text_buf_append(b, obj ? "}" : "]", 1);
  }
  }
  return 0;
}

/* The value at path ("a.b.c": members of nested objects) under root, or NULL. */
static const json_value *find_path(const json_value *root, const char *path) {
  const json_value *x = root;
  char key[256];
  for (const char *p = path; x && *p;) {
    const char *dot = strchr(p, '.');
    const size_t n = dot ? (size_t)(dot - p) : strlen(p);
    if (n >= sizeof key || x->kind != JSON_OBJECT) return NULL;
    memcpy(key, p, n);
    key[n] = 0;
    x = json_get(x, key);
    p += n + (dot != NULL);
  }
  return x;
}

/* A value shown in a message: at most 60 bytes of its canonical text. */
static const char *shown(char *buf, size_t cap, const char *s) {
  snprintf(buf, cap, "%.60s%s", s, strlen(s) > 60 ? "..." : "");
  return buf;
}

ditc_status config_check(const ditc_pipeline_part *p, const json_doc *doc, const char *path, const char *what,
                         ditc_err *err) {
  const ditc_variant *v = p->v;
  const json_value *root = &doc->root;
  /* the class: model_type, _class_name or architectures[0], where the file has them */
  const char *keys[3] = {"model_type", "_class_name", "architectures"};
  for (int k = 0; k < 3; k++) {
    const json_value *x = json_get(root, keys[k]);
    if (x && x->kind == JSON_ARRAY && x->count > 0) x = &x->items[0];
    if (!x || x->kind != JSON_STRING) continue;
    int known = 0;
    for (int i = 0; i < p->n_class_names && !known; i++) known = !strcmp(x->str.s, p->class_names[i]);
    if (!known)
      return ditc_fail(err, DITC_EINVAL, "%s: field '%s' is \"%.80s\", but %s of this binary is %s (class %s): the "
                       "folder holds another model", path, keys[k], x->str.s, what, v->family, p->class_names[0]);
  }
  text_buf b = {0};
  char want[80], got[80];
  ditc_status s = DITC_OK;
  for (int i = 0; i < p->n_fields && !s; i++) {
    const ditc_config_field *f = &p->fields[i];
    const json_value *x = find_path(root, f->path);
    if (!x) {
      s = ditc_fail(err, DITC_EINVAL, "%s: field '%s' is missing; %s/%s was generated with %s", path, f->path,
                    v->family, v->name, shown(want, sizeof want, f->value));
      break;
    }
    b.len = 0;
    if (!canon(&b, x) || !text_buf_append(&b, "", 1)) {
      s = ditc_fail(err, DITC_ENOMEM, "%s: out of memory", path);
      break;
    }
    if (strcmp(b.p, f->value))
      s = ditc_fail(err, DITC_EINVAL, "%s: field '%s' is %s, but %s/%s was generated with %s (another %s: "
                    "regenerate the binary from this folder)", path, f->path, shown(got, sizeof got, b.p), v->family,
                    v->name, shown(want, sizeof want, f->value), what);
  }
  text_buf_free(&b);
  /* a top-level field the generation-time file did not have (the checks above cover nested ones) */
  for (int i = 0; i < root->count && !s && p->n_fields > 0; i++) {
    const char *k = root->keys[i].s;
    int seen = k[0] == '_';
    for (int j = 0; j < p->n_skip && !seen; j++) seen = !strcmp(k, p->skip[j]);
    for (int j = 0; j < p->n_fields && !seen; j++) {
      const size_t n = strlen(k);
      seen = !strncmp(p->fields[j].path, k, n) && (p->fields[j].path[n] == 0 || p->fields[j].path[n] == '.');
    }
    if (!seen)
      s = ditc_fail(err, DITC_EINVAL, "%s: field '%.80s' was not in the config.json %s/%s was generated from (another "
                    "%s: regenerate the binary from this folder)", path, k, v->family, v->name, what);
  }
  return s;
}

ditc_status config_int(const json_doc *doc, const char *path, const char *key, int64_t *out, ditc_err *err) {
  const json_value *x = json_get(&doc->root, key);
  if (!x || x->kind != JSON_NUMBER || !x->is_int)
    return ditc_fail(err, DITC_EINVAL, "%s: field '%s' %s", path, key, x ? "is not an integer" : "is missing");
  *out = x->integer;
  return DITC_OK;
}
