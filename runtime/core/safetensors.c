/* safetensors.c: safetensors reading (header read and fully validated, data mmap'd; reads of
 * the mapping guarded against the file shrinking) and atomic writing.
 * Layout: u64 LE header length N, N bytes of JSON header, then the data section; data_offsets
 * are relative to the data section (byte 8 + N). Every user-facing error starts with the path.
 * Not here: model manifests (loader.c), dtype conversion of whole tensors, big-endian hosts. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "outfile.h"
#include "safetensors.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host (the file format is little-endian)"
#endif

#define ST_MAX_HEADER 100000000ull /* 100 MB, the limit of the reference implementation */

static const struct { const char *name; size_t size; } st_dtypes[ST_DTYPE_COUNT] = {
    [ST_F64] = {"F64", 8}, [ST_F32] = {"F32", 4}, [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2},
    [ST_I64] = {"I64", 8}, [ST_I32] = {"I32", 4}, [ST_I16] = {"I16", 2}, [ST_I8] = {"I8", 1},
    [ST_U8] = {"U8", 1},   [ST_BOOL] = {"BOOL", 1},
};

const char *st_dtype_name(st_dtype d) {
  DITC_CHECK(d >= 0 && d < ST_DTYPE_COUNT);
  return st_dtypes[d].name;
}

size_t st_dtype_size(st_dtype d) {
  DITC_CHECK(d >= 0 && d < ST_DTYPE_COUNT);
  return st_dtypes[d].size;
}

/* ---- shared helpers ------------------------------------------------------------------------- */

/* name made safe for a one-line message, in a short buffer (ditc_shown: the one escaping). */
static const char *shown(const char *name, size_t len, char buf[72]) {
  return ditc_shown(buf, 72, name, len);
}

static ditc_status out_of_memory(const char *path, ditc_err *err) {
  return ditc_fail(err, DITC_ENOMEM, "%s: out of memory", path);
}

/* "[2, 3]" (or "[]" for a scalar) into buf. */
static const char *shape_str(const int64_t *shape, int ndim, char buf[200]) {
  size_t n = 0;
  buf[n++] = '[';
  for (int i = 0; i < ndim; i++)
    n += (size_t)snprintf(buf + n, 200 - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
  strcpy(buf + n, "]");
  return buf;
}

/* Product of the dims as an element count; 0 when any dim is 0; -1 when it overflows the
 * largest count whose byte size (up to 8 bytes an element) still fits an int64. */
static int64_t shape_numel(const int64_t *shape, int ndim) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++)
    if (shape[i] == 0) return 0;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] > INT64_MAX / 8 / n) return -1;
    n *= shape[i];
  }
  return n;
}

/* ---- reading: per-tensor validation --------------------------------------------------------- */

typedef struct {
  const char *path;
  ditc_err *err;
  const unsigned char *data;  /* start of the data section */
  size_t data_size;
} st_reader;

__attribute__((format(printf, 3, 4)))
static ditc_status tensor_fail(const st_reader *r, const char *name, const char *fmt, ...) {
  char detail[400], nb[DITC_SHOWN_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  return ditc_fail(r->err, DITC_EINVAL, "%s: tensor '%s': %s", r->path,
                   ditc_shown(nb, sizeof nb, name, strlen(name)), detail);
}

static ditc_status read_dtype(const st_reader *r, st_tensor *t, const json_value *v) {
  char nb[72];
  if (v->kind != JSON_STRING) return tensor_fail(r, t->name, "dtype is not a string");
  for (int d = 0; d < ST_DTYPE_COUNT; d++)
    if (strlen(st_dtypes[d].name) == v->str.len && strcmp(st_dtypes[d].name, v->str.s) == 0) {
      t->dtype = (st_dtype)d;
      return DITC_OK;
    }
  return tensor_fail(r, t->name, "unknown dtype '%s'", shown(v->str.s, v->str.len, nb));
}

static ditc_status read_shape(const st_reader *r, st_tensor *t, const json_value *v) {
  if (v->kind != JSON_ARRAY) return tensor_fail(r, t->name, "shape is not an array");
  if (v->count > ST_MAX_DIMS)
    return tensor_fail(r, t->name, "shape has %d dims, more than %d", v->count, ST_MAX_DIMS);
  for (int i = 0; i < v->count; i++) {
    const json_value *d = &v->items[i];
    if (d->kind != JSON_NUMBER || !d->is_int)
      return tensor_fail(r, t->name, "shape[%d] is not an integer", i);
    if (d->integer < 0)
      return tensor_fail(r, t->name, "shape[%d] is negative (%lld)", i, (long long)d->integer);
    t->shape[i] = d->integer;
  }
  t->ndim = v->count;
  t->numel = shape_numel(t->shape, t->ndim);
  char sb[200];
  if (t->numel < 0)
    return tensor_fail(r, t->name, "shape %s is too large", shape_str(t->shape, t->ndim, sb));
  return DITC_OK;
}

/* data_offsets [begin, end] -> t->data, t->nbytes; checks order, bounds and size. */
static ditc_status read_offsets(const st_reader *r, st_tensor *t, const json_value *v) {
  int ok = v->kind == JSON_ARRAY && v->count == 2;
  for (int i = 0; ok && i < 2; i++)
    ok = v->items[i].kind == JSON_NUMBER && v->items[i].is_int && v->items[i].integer >= 0;
  if (!ok) return tensor_fail(r, t->name, "data_offsets is not two non-negative integers");
  const json_value *a = &v->items[0], *b = &v->items[1];
  long long begin = a->integer, end = b->integer;
  if (begin > end)
    return tensor_fail(r, t->name, "data_offsets [%lld, %lld] are reversed (begin > end)", begin,
                       end);
  if ((uint64_t)end > r->data_size)
    return tensor_fail(r, t->name,
                       "data_offsets [%lld, %lld] run past the end of the data section (%zu bytes)",
                       begin, end, r->data_size);
  long long need = (long long)(t->numel * (int64_t)st_dtypes[t->dtype].size);
  char sb[200];
  if (end - begin != need)
    return tensor_fail(r, t->name, "shape %s needs %lld bytes but data_offsets span %lld",
                       shape_str(t->shape, t->ndim, sb), need, end - begin);
  t->data = r->data + begin;
  t->nbytes = (size_t)need;
  return DITC_OK;
}

/* One header entry {"dtype", "shape", "data_offsets"} (exactly these keys) into t. */
static ditc_status read_tensor(const st_reader *r, st_tensor *t, const json_value *v) {
  static const char *const keys[3] = {"dtype", "shape", "data_offsets"};
  char kb[72];
  if (v->kind != JSON_OBJECT) return tensor_fail(r, t->name, "entry is not an object");
  for (int i = 0; i < v->count; i++) {
    const json_str *k = &v->keys[i];
    if (strlen(k->s) != k->len || (strcmp(k->s, keys[0]) && strcmp(k->s, keys[1]) &&
                                   strcmp(k->s, keys[2])))
      return tensor_fail(r, t->name, "unexpected key '%s'", shown(k->s, k->len, kb));
  }
  for (int i = 0; i < 3; i++)
    if (!json_get(v, keys[i])) return tensor_fail(r, t->name, "missing '%s'", keys[i]);
  ditc_status st = read_dtype(r, t, json_get(v, "dtype"));
  if (!st) st = read_shape(r, t, json_get(v, "shape"));
  if (!st) st = read_offsets(r, t, json_get(v, "data_offsets"));
  return st;
}

static ditc_status read_metadata(const st_reader *r, const json_value *v) {
  char kb[72];
  if (v->kind != JSON_OBJECT)
    return ditc_fail(r->err, DITC_EINVAL, "%s: __metadata__ is not an object", r->path);
  for (int i = 0; i < v->count; i++)
    if (v->items[i].kind != JSON_STRING)
      return ditc_fail(r->err, DITC_EINVAL, "%s: __metadata__ value of '%s' is not a string",
                       r->path, shown(v->keys[i].s, v->keys[i].len, kb));
  return DITC_OK;
}

/* ---- reading: whole-file checks ------------------------------------------------------------- */

static int cmp_by_name(const void *a, const void *b) {
  return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

static int cmp_by_begin(const void *a, const void *b) {
  const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
  if (x->data != y->data) return x->data < y->data ? -1 : 1;
  return strcmp(x->name, y->name);
}

/* Sorted by begin, non-empty tensors overlap iff some neighbour starts before the previous ends. */
static ditc_status check_overlaps(const st_reader *r, const st_file *f) {
  const st_tensor **by_begin = malloc((size_t)f->count * sizeof *by_begin + 1);
  if (!by_begin) return out_of_memory(r->path, r->err);
  int n = 0;
  for (int i = 0; i < f->count; i++)
    if (f->tensors[i].nbytes) by_begin[n++] = &f->tensors[i];
  qsort(by_begin, (size_t)n, sizeof *by_begin, cmp_by_begin);
  ditc_status st = DITC_OK;
  for (int i = 1; i < n && !st; i++) {
    const st_tensor *a = by_begin[i - 1], *b = by_begin[i];
    char na[DITC_SHOWN_MAX], nb[DITC_SHOWN_MAX];
    if (b->data < a->data + a->nbytes)
      st = ditc_fail(r->err, DITC_EINVAL, "%s: tensors '%s' and '%s' overlap in the data section",
                     r->path, ditc_shown(na, sizeof na, a->name, strlen(a->name)),
                     ditc_shown(nb, sizeof nb, b->name, strlen(b->name)));
  }
  free(by_begin);
  return st;
}

/* Every member of the header object: __metadata__ or a tensor (appended to f, sorted after). */
static ditc_status read_header(const st_reader *r, st_file *f, const json_value *root) {
  if (root->kind != JSON_OBJECT)
    return ditc_fail(r->err, DITC_EINVAL, "%s: JSON header is not an object", r->path);
  f->tensors = calloc((size_t)root->count + 1, sizeof *f->tensors);
  if (!f->tensors) return out_of_memory(r->path, r->err);
  for (int i = 0; i < root->count; i++) {
    const json_str *k = &root->keys[i];
    ditc_status st;
    if (strcmp(k->s, "__metadata__") == 0 && k->len == strlen(k->s)) {
      if ((st = read_metadata(r, &root->items[i]))) return st;
      continue;
    }
    if (strlen(k->s) != k->len)
      return ditc_fail(r->err, DITC_EINVAL, "%s: tensor name at header byte %zu has a NUL byte",
                       r->path, k->offset);
    st_tensor *t = &f->tensors[f->count];
    if (!(t->name = strdup(k->s))) return out_of_memory(r->path, r->err);
    f->count++;
    if ((st = read_tensor(r, t, &root->items[i]))) return st;
  }
  qsort(f->tensors, (size_t)f->count, sizeof *f->tensors, cmp_by_name);
  for (int i = 1; i < f->count; i++) /* the JSON parser rejects duplicate keys */
    DITC_CHECK(strcmp(f->tensors[i - 1].name, f->tensors[i].name) != 0);
  return check_overlaps(r, f);
}

/* buf[0..n) from byte off of fd; a short read means the file shrank since it was measured. */
static ditc_status read_at(int fd, void *buf, size_t n, off_t off, const char *path, ditc_err *err) {
  for (size_t done = 0; done < n;) {
    ssize_t k = pread(fd, (char *)buf + done, n - done, off + (off_t)done);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return ditc_fail(err, DITC_EIO, "%s: cannot read: %s", path, strerror(errno));
    if (k == 0) return ditc_fail(err, DITC_EIO, "%s: changed while being read", path);
    done += (size_t)k;
  }
  return DITC_OK;
}

/* Checks the header length, reads (not from the mapping) and parses the JSON header, and
 * validates every entry. */
static ditc_status read_file(st_file *f, int fd, const char *path, ditc_err *err) {
  unsigned char len8[8];
  ditc_status st = read_at(fd, len8, 8, 0, path, err);
  if (st) return st;
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = n << 8 | len8[i];
  if (n > f->map_size - 8)
    return ditc_fail(err, DITC_EINVAL,
                     "%s: header length %llu runs past the end of the file (%zu bytes)", path,
                     (unsigned long long)n, f->map_size);
  if (n > ST_MAX_HEADER)
    return ditc_fail(err, DITC_EINVAL, "%s: header length %llu exceeds the 100 MB limit", path,
                     (unsigned long long)n);
  char *text = malloc((size_t)n + 1);
  if (!text) return out_of_memory(path, err);
  st = read_at(fd, text, (size_t)n, 8, path, err);
  /* A valid header has arrays of at most 8 elements (shapes; data_offsets has 2) and never
   * more than one value or key per 3 bytes (the densest entry, '"a":{"dtype":"U8","shape":
   * [0,0,0,0,0,0,0,0],"data_offsets":[0,0]},', holds 18 in 69 bytes; a __metadata__ member
   * '"k":"",' 2 in 7), so both bound the parse of a hostile header by its length. */
  const json_limits lim = {.max_items = ST_MAX_DIMS, .max_values = (size_t)n / 3 + 64};
  json_doc doc;
  json_error je;
  if (!st && (st = json_parse(text, (size_t)n, &lim, &doc, &je)))
    st = ditc_fail(err, st, "%s: malformed JSON header at byte %zu: %s%s", path, je.offset,
                   je.reason, strncmp(je.reason, "array of more than", 18) ? ""
                   : " (a shape has at most 8 dims, data_offsets 2)");
  free(text);
  if (st) return st;
  st_reader r = {path, err, (const unsigned char *)f->map + 8 + n, f->map_size - 8 - (size_t)n};
  st = read_header(&r, f, &doc.root);
  json_free(&doc);
  return st;
}

/* Opens and maps path read-only into f->map / f->map_size, then reads the header through fd. */
static ditc_status map_file(st_file *f, const char *path, ditc_err *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* O_NONBLOCK: a FIFO must not hang */
  if (fd < 0) return ditc_fail(err, DITC_EIO, "%s: cannot open: %s", path, strerror(errno));
  struct stat sb;
  ditc_status st = DITC_OK;
  if (fstat(fd, &sb) != 0)
    st = ditc_fail(err, DITC_EIO, "%s: cannot stat: %s", path, strerror(errno));
  else if (!S_ISREG(sb.st_mode))
    st = ditc_fail(err, DITC_EIO, "%s: not a regular file", path);
  else if (sb.st_size < 8)
    st = ditc_fail(err, DITC_EINVAL,
                   "%s: file is %lld bytes, shorter than the 8-byte header length", path,
                   (long long)sb.st_size);
  if (!st) {
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      st = ditc_fail(err, DITC_EIO, "%s: cannot mmap: %s", path, strerror(errno));
    } else {
      f->map = map;
      f->map_size = (size_t)sb.st_size;
      st = read_file(f, fd, path, err);
    }
  }
  close(fd);
  return st;
}

ditc_status st_open(st_file *f, const char *path, ditc_err *err) {
  memset(f, 0, sizeof *f);
  if (!(f->path = strdup(path))) return out_of_memory(path, err);
  ditc_status st = map_file(f, path, err);
  if (st) st_close(f);
  return st;
}

void st_close(st_file *f) {
  for (int i = 0; f->tensors && i < f->count; i++) free(f->tensors[i].name);
  free(f->tensors);
  if (f->map) munmap(f->map, f->map_size);
  free(f->path);
  memset(f, 0, sizeof *f);
}

const st_tensor *st_find(const st_file *f, const char *name) {
  int lo = 0, hi = f->count - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2, c = strcmp(f->tensors[mid].name, name);
    if (c == 0) return &f->tensors[mid];
    if (c < 0) lo = mid + 1; else hi = mid - 1;
  }
  return NULL;
}

/* ---- reading: a file that shrinks while mapped ---------------------------------------------- */

/* Reading a page of the mapping past the file's new end raises SIGBUS. The handler needs
 * process state, kept to this: the guard of the calling thread (the mapping and where to jump)
 * and the handler it replaced, to which every other SIGBUS is passed on. */
typedef struct {
  const st_file *f;
  sigjmp_buf jmp;
} st_guard;

static _Thread_local st_guard *thread_guard;
static struct sigaction replaced_sigbus;
static pthread_once_t sigbus_once = PTHREAD_ONCE_INIT;

static void on_sigbus(int sig, siginfo_t *si, void *uc) {
  st_guard *g = thread_guard;
  const unsigned char *a = si->si_addr, *lo = g ? g->f->map : NULL;
  if (lo && a >= lo && a < lo + g->f->map_size) siglongjmp(g->jmp, 1);
  if (replaced_sigbus.sa_flags & SA_SIGINFO) {
    replaced_sigbus.sa_sigaction(sig, si, uc);
  } else if (replaced_sigbus.sa_handler != SIG_DFL && replaced_sigbus.sa_handler != SIG_IGN) {
    replaced_sigbus.sa_handler(sig);
  } else { /* the default action: the faulting access runs again and the process dies */
    signal(sig, SIG_DFL);
  }
}

static void install_sigbus(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  DITC_CHECK(sigaction(SIGBUS, &sa, &replaced_sigbus) == 0);
}

ditc_status st_guarded(const st_file *f, ditc_status (*fn)(void *ctx, ditc_err *err), void *ctx,
                       ditc_err *err) {
  DITC_CHECK(f && fn && !thread_guard);
  DITC_CHECK(pthread_once(&sigbus_once, install_sigbus) == 0);
  st_guard g = {.f = f};
  ditc_status st;
  thread_guard = &g;
  if (sigsetjmp(g.jmp, 1) == 0) st = fn(ctx, err);
  else st = ditc_fail(err, DITC_EIO, "%s: changed while being read", f->path);
  thread_guard = NULL;
  return st;
}

/* ---- element access ------------------------------------------------------------------------- */

static double f16_to_double(uint16_t h) {
  int e = h >> 10 & 0x1F, m = h & 0x3FF;
  double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m + 1024, e - 25);
  return h >> 15 ? -v : v;
}

static double bf16_to_double(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

double st_get(const st_tensor *t, int64_t i) {
  DITC_CHECK(t && t->dtype >= 0 && t->dtype < ST_DTYPE_COUNT && i >= 0 && i < t->numel);
  const unsigned char *p = t->data + (size_t)i * st_dtypes[t->dtype].size;
  union { double f64; float f32; uint16_t u16; int64_t i64; int32_t i32; int16_t i16; } u;
  memcpy(&u, p, st_dtypes[t->dtype].size); /* the data may be unaligned */
  switch (t->dtype) {
    case ST_F64: return u.f64;
    case ST_F32: return u.f32;
    case ST_F16: return f16_to_double(u.u16);
    case ST_BF16: return bf16_to_double(u.u16);
    case ST_I64: return (double)u.i64;
    case ST_I32: return u.i32;
    case ST_I16: return u.i16;
    case ST_I8: return (signed char)p[0];
    case ST_U8: return p[0];
    case ST_BOOL: return p[0] != 0;
    default: DITC_CHECK(0); return 0;
  }
}

/* ---- writing: header ------------------------------------------------------------------------ */

typedef struct {
  char *s;
  size_t len, cap;
  int oom;
} st_buf;

static void buf_put(st_buf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (b->len + n + 1 > cap) cap *= 2;
    char *s2 = realloc(b->s, cap);
    if (!s2) { b->oom = 1; return; }
    b->s = s2;
    b->cap = cap;
  }
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = 0;
}

__attribute__((format(printf, 2, 3)))
static void buf_printf(st_buf *b, const char *fmt, ...) {
  char tmp[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  DITC_CHECK(n >= 0 && (size_t)n < sizeof tmp);
  buf_put(b, tmp, (size_t)n);
}

/* name as a JSON string: '"' and '\' escaped, control bytes as \u00XX, other bytes as they are. */
static void buf_json_string(st_buf *b, const char *name) {
  buf_put(b, "\"", 1);
  for (const char *c = name; *c; c++) {
    if ((unsigned char)*c < 0x20) {
      buf_printf(b, "\\u%04x", (unsigned)(unsigned char)*c);
      continue;
    }
    if (*c == '"' || *c == '\\') buf_put(b, "\\", 1);
    buf_put(b, c, 1);
  }
  buf_put(b, "\"", 1);
}

static int cmp_out_by_name(const void *a, const void *b) {
  return strcmp((*(const st_out_tensor *const *)a)->name, (*(const st_out_tensor *const *)b)->name);
}

/* Checks one tensor to write and returns its byte size in *nbytes. */
static ditc_status check_out_tensor(const char *path, const st_out_tensor *t, size_t *nbytes,
                                    ditc_err *err) {
  char nb[72];
  const char *n = shown(t->name, strlen(t->name), nb);
  if (strcmp(t->name, "__metadata__") == 0)
    return ditc_fail(err, DITC_EINVAL, "%s: '__metadata__' is not a valid tensor name", path);
  if (t->dtype != ST_F32 && t->dtype != ST_I64 && t->dtype != ST_I32 && t->dtype != ST_U8) {
    const char *d = t->dtype >= 0 && t->dtype < ST_DTYPE_COUNT ? st_dtypes[t->dtype].name : "?";
    return ditc_fail(err, DITC_EINVAL,
                     "%s: tensor '%s': writing dtype %s is not supported (only F32, I64, I32 and U8)", path,
                     n, d);
  }
  if (t->ndim < 0 || t->ndim > ST_MAX_DIMS)
    return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s': ndim %d is not in 0..%d", path, n, t->ndim,
                     ST_MAX_DIMS);
  for (int i = 0; i < t->ndim; i++)
    if (t->shape[i] < 0)
      return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s': shape[%d] is negative", path, n, i);
  int64_t numel = shape_numel(t->shape, t->ndim);
  if (numel < 0) return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s': shape is too large", path, n);
  *nbytes = (size_t)numel * st_dtypes[t->dtype].size;
  if (*nbytes && !t->data) return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s': no data", path, n);
  return DITC_OK;
}

/* The header JSON for the sorted tensors, padded with spaces to a multiple of 8 bytes. */
static void build_header(st_buf *b, const st_out_tensor *const *sorted, const size_t *nbytes, int count,
                         const st_meta *meta, int n_meta) {
  size_t offset = 0;
  const char *head = "{\"__metadata__\":{\"format\":\"pt\"";
  buf_put(b, head, strlen(head));
  for (int i = 0; i < n_meta; i++) {
    buf_put(b, ",", 1);
    buf_json_string(b, meta[i].key);
    buf_put(b, ":", 1);
    buf_json_string(b, meta[i].value);
  }
  buf_put(b, "}", 1);
  for (int i = 0; i < count; i++) {
    const st_out_tensor *t = sorted[i];
    buf_put(b, ",", 1);
    buf_json_string(b, t->name);
    buf_printf(b, ":{\"dtype\":\"%s\",\"shape\":[", st_dtypes[t->dtype].name);
    for (int d = 0; d < t->ndim; d++) buf_printf(b, "%s%lld", d ? "," : "", (long long)t->shape[d]);
    buf_printf(b, "],\"data_offsets\":[%zu,%zu]}", offset, offset + nbytes[i]);
    offset += nbytes[i];
  }
  buf_put(b, "}", 1);
  while (b->len % 8) buf_put(b, " ", 1);
}

/* ---- writing: files ------------------------------------------------------------------------- */

/* Writes length, header and data through the output path of outfile.h (unique temporary file,
 * fsync, rename); nothing is left behind on failure. */
static ditc_status write_file(const char *path, const st_buf *header, const st_out_tensor *const *sorted,
                              const size_t *nbytes, int count, ditc_err *err) {
  out_file f;
  ditc_status st = out_open(&f, path, err);
  if (st) return st;
  unsigned char len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)header->len >> (8 * i));
  int ok = fwrite(len8, 1, 8, f.fp) == 8 && fwrite(header->s, 1, header->len, f.fp) == header->len;
  for (int i = 0; ok && i < count; i++)
    ok = !nbytes[i] || fwrite(sorted[i]->data, 1, nbytes[i], f.fp) == nbytes[i];
  if (ok) return out_commit(&f, err);
  const int saved = errno;
  ditc_fail(err, DITC_EIO, "%s: cannot write %s: %s", path, f.tmp, strerror(saved));
  out_abort(&f);
  return DITC_EIO;
}

/* Sorts and checks the tensors, builds the header, writes the file. */
static ditc_status write_sorted(const char *path, const st_out_tensor **sorted, size_t *nbytes, int count,
                                const st_meta *meta, int n_meta, ditc_err *err) {
  qsort(sorted, (size_t)count, sizeof *sorted, cmp_out_by_name);
  for (int i = 0; i < count; i++) {
    ditc_status st = check_out_tensor(path, sorted[i], &nbytes[i], err);
    if (st) return st;
    char nb[72];
    if (i > 0 && strcmp(sorted[i - 1]->name, sorted[i]->name) == 0)
      return ditc_fail(err, DITC_EINVAL, "%s: duplicate tensor name '%s'", path,
                       shown(sorted[i]->name, strlen(sorted[i]->name), nb));
  }
  for (int i = 0; i < n_meta; i++)
    if (!meta[i].key || !meta[i].value || !strcmp(meta[i].key, "format"))
      return ditc_fail(err, DITC_EINVAL, "%s: metadata entry %d is missing or is 'format'", path, i);
  st_buf header = {0};
  build_header(&header, sorted, nbytes, count, meta, n_meta);
  ditc_status st = DITC_OK;
  if (header.oom) st = out_of_memory(path, err);
  else if (header.len > ST_MAX_HEADER)
    st = ditc_fail(err, DITC_EINVAL, "%s: header of %zu bytes exceeds the 100 MB limit", path,
                   header.len);
  if (!st) st = write_file(path, &header, sorted, nbytes, count, err);
  free(header.s);
  return st;
}

ditc_status st_write_meta(const char *path, const st_out_tensor *tensors, int count, const st_meta *meta,
                          int n_meta, ditc_err *err) {
  DITC_CHECK(path && count >= 0 && (tensors || count == 0) && n_meta >= 0 && (meta || n_meta == 0));
  for (int i = 0; i < count; i++)
    if (!tensors[i].name) return ditc_fail(err, DITC_EINVAL, "%s: tensor %d has no name", path, i);
  const st_out_tensor **sorted = malloc((size_t)count * sizeof *sorted + 1);
  size_t *nbytes = malloc((size_t)count * sizeof *nbytes + 1);
  ditc_status st = DITC_OK;
  if (!sorted || !nbytes) {
    st = out_of_memory(path, err);
  } else {
    for (int i = 0; i < count; i++) sorted[i] = &tensors[i];
    st = write_sorted(path, sorted, nbytes, count, meta, n_meta, err);
  }
  free(sorted);
  free(nbytes);
  return st;
}

ditc_status st_write(const char *path, const st_out_tensor *tensors, int count, ditc_err *err) {
  return st_write_meta(path, tensors, count, NULL, 0, err);
}
