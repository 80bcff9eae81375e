/* json.h: a small, strict JSON (RFC 8259) parser into a malloc'd tree, for safetensors headers.
 * Strict: no trailing commas, comments, NaN, leading zeros, control characters in strings,
 * duplicate object keys, nesting deeper than the limit, or trailing non-whitespace.
 * Bounded: the caller's json_limits cap the nesting, the elements of one array and the values of
 * the whole document, so a hostile input fails while it is parsed, not after. Memory is 40 bytes
 * a value and 24 a key, plus one buffer of the input's size for all decoded strings.
 * Not here: writing JSON, UTF-8 validation of raw (unescaped) bytes, streaming input. */
#ifndef DITC_JSON_H
#define DITC_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "ditc_status.h"

#define JSON_MAX_DEPTH 64

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_kind;

/* A decoded string: UTF-8 bytes, NUL-terminated, but may contain NULs (from \u0000). s points
 * into the document's string buffer. */
typedef struct {
  char *s;
  size_t len;
  size_t offset;              /* byte offset of its opening quote in the input */
} json_str;

typedef struct json_value json_value;
struct json_value {
  json_kind kind;
  int count;                  /* JSON_ARRAY / JSON_OBJECT: number of elements / members */
  size_t offset;              /* byte offset of the value's first character in the input */
  union {                     /* by kind */
    int boolean;              /* JSON_BOOL */
    struct {                  /* JSON_NUMBER */
      double number;          /* always set */
      int64_t integer;        /* the exact value when is_int: */
      int is_int;             /* no fraction/exponent and fits int64 */
    };
    json_str str;             /* JSON_STRING */
    struct {                  /* JSON_ARRAY / JSON_OBJECT */
      json_value *items;      /* [count] elements, or member values (in input order) */
      json_str *keys;         /* [count] member keys (JSON_OBJECT only), parallel to items */
    };
  };
};

/* A parsed document: the root value and the buffer every decoded string lives in. */
typedef struct {
  json_value root;
  char *strings;
} json_doc;

/* Limits of one parse; a zero field takes the default (JSON_MAX_DEPTH; 2^29 elements; no
 * bound on values beyond the one the input length implies). Values count keys too. */
typedef struct {
  int max_depth;
  int max_items;              /* elements of one array (objects are not bounded by this) */
  size_t max_values;          /* values and keys of the whole document */
} json_limits;

/* Where and why parsing failed; offset is in bytes from the start of the input. */
typedef struct {
  size_t offset;
  char reason[160];
} json_error;

/* Parses text[0..len) (no NUL needed) into *doc under lim (NULL: the defaults). On failure
 * returns DITC_EINVAL (malformed, or over a limit) or DITC_ENOMEM, fills *err, and leaves *doc
 * empty (safe to json_free). */
ditc_status json_parse(const char *text, size_t len, const json_limits *lim, json_doc *doc,
                       json_error *err);

/* Frees everything in doc and zeroes it. Safe on a zeroed document. */
void json_free(json_doc *doc);

/* The member of object obj whose key equals the NUL-terminated key, or NULL. */
const json_value *json_get(const json_value *obj, const char *key);

#endif
