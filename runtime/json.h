/* json.h: a small, strict JSON (RFC 8259) parser into a malloc'd tree, for safetensors headers.
 * Strict: no trailing commas, comments, NaN, leading zeros, control characters in strings,
 * duplicate object keys, nesting deeper than JSON_MAX_DEPTH, or trailing non-whitespace.
 * Not here: writing JSON, UTF-8 validation of raw (unescaped) bytes, streaming input. */
#ifndef DITC_JSON_H
#define DITC_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "ditc_status.h"

#define JSON_MAX_DEPTH 64

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_kind;

/* A decoded string: UTF-8 bytes, NUL-terminated, but may contain NULs (from \u0000). */
typedef struct {
  char *s;
  size_t len;
  size_t offset;              /* byte offset of its opening quote in the input */
} json_str;

typedef struct json_value json_value;
struct json_value {
  json_kind kind;
  size_t offset;              /* byte offset of the value's first character in the input */
  int boolean;                /* JSON_BOOL */
  double number;              /* JSON_NUMBER: always set */
  int is_int;                 /* JSON_NUMBER: no fraction/exponent and fits int64 ... */
  int64_t integer;            /* ... then this is the exact value */
  json_str str;               /* JSON_STRING */
  int count;                  /* JSON_ARRAY / JSON_OBJECT: number of elements / members */
  json_value *items;          /* [count] elements, or member values (in input order) */
  json_str *keys;             /* [count] member keys (JSON_OBJECT only), parallel to items */
};

/* Where and why parsing failed; offset is in bytes from the start of the input. */
typedef struct {
  size_t offset;
  char reason[160];
} json_error;

/* Parses text[0..len) (no NUL needed) into *out. On failure returns DITC_EINVAL (malformed) or
 * DITC_ENOMEM, fills *err, and leaves *out empty (safe to json_free). */
ditc_status json_parse(const char *text, size_t len, json_value *out, json_error *err);

/* Frees everything under v and zeroes it. Safe on a zeroed value. */
void json_free(json_value *v);

/* The member of object obj whose key equals the NUL-terminated key, or NULL. */
const json_value *json_get(const json_value *obj, const char *key);

#endif
