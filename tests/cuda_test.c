/* tests/cuda_test.c: the harness of the CUDA op tests (see cuda_test.h): checks, buffers, seeded
 * inputs and storage uploads. Not a test itself. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_test.h"

cuda_ctx ctx;
static int n_passed, n_failed;

/* ---- checks --------------------------------------------------------------------------------- */

/* Prints "ok - name: detail" or "not ok - name: detail" and counts it; returns ok. */
__attribute__((format(printf, 3, 4))) int result(int ok, const char *name, const char *fmt, ...) {
  printf("%s - %s: ", ok ? "ok" : "not ok", name);
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  if (ok) n_passed++;
  else n_failed++;
  return ok;
}

static int nonfinite_class(double x) { return isnan(x) ? 1 : isinf(x) ? (x > 0 ? 2 : 3) : 0; }

/* NaN, +Inf and -Inf at the same indices of got and ref; reports (a failed check) if not. */
static int parity_ok(const char *name, const float *got, const float *ref, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (nonfinite_class(got[i]) != nonfinite_class(ref[i]))
      return result(0, name, "NaN/Inf parity broken at %lld: got %.9g, ref %.9g", (long long)i, got[i], ref[i]);
  return 1;
}

/* The entries of got outside |got - ref| <= atol + rtol*(|ref| + |scale|) (scale may be NULL: 0),
 * finite entries of ref only; the worst share of its budget and where. */
int64_t count_outside(const float *got, const float *ref, const float *scale, int64_t n, double rtol, double atol,
                      double *worst, int64_t *wi) {
  int64_t bad = 0;
  *worst = 0.0, *wi = 0;
  for (int64_t i = 0; i < n; i++) {
    if (!isfinite(ref[i])) continue;
    const double e = fabs((double)got[i] - ref[i]);
    const double budget = atol + rtol * (fabs(ref[i]) + (scale ? fabs(scale[i]) : 0.0));
    const double share = e == 0.0 ? 0.0 : budget > 0.0 ? e / budget : INFINITY;
    if (share > 1.0 || isnan(e)) bad++;
    if (share > *worst || (isnan(e) && !isnan(*worst))) *worst = isnan(e) ? NAN : share, *wi = i;
  }
  return bad;
}

/* Elementwise |got - ref| <= atol + rtol*(|ref| + |scale|) on the finite entries (rtol = atol = 0:
 * equal values), with NaN/Inf parity. */
void check_close_scaled(const char *name, const float *got, const float *ref, const float *scale, int64_t n,
                        double rtol, double atol) {
  if (!parity_ok(name, got, ref, n)) return;
  double worst;
  int64_t wi;
  const int64_t bad = count_outside(got, ref, scale, n, rtol, atol, &worst, &wi);
  if (rtol == 0.0 && atol == 0.0) /* exact: the budget is 0, any difference is infinitely over */
    result(bad == 0, name, "%lld of %lld values differ%s; first at %lld: got %.9g, ref %.9g", (long long)bad,
           (long long)n, bad ? " (exact required)" : "", (long long)wi, got[wi], ref[wi]);
  else result(bad == 0, name, "%lld of %lld outside; worst at %lld: got %.9g, ref %.9g, %.3g%% of budget (rtol %.1e, "
              "atol %.1e%s)", (long long)bad, (long long)n, (long long)wi, got[wi], ref[wi], 100.0 * worst, rtol, atol,
              scale ? ", relative to |ref| + |intermediate|" : "");
}

void check_close(const char *name, const float *got, const float *ref, int64_t n, double rtol, double atol) {
  check_close_scaled(name, got, ref, NULL, n, rtol, atol);
}

/* Whole-tensor bound for reductions: max|got - ref| <= rel * max|ref| and NMSE = sum (got - ref)^2
 * / sum ref^2 <= nmse, over the finite entries, with NaN/Inf parity. */
void check_rel(const char *name, const float *got, const float *ref, int64_t n, double rel, double nmse) {
  if (!parity_ok(name, got, ref, n)) return;
  double maxref = 0.0, maxerr = 0.0, se = 0.0, sr = 0.0;
  int64_t wi = 0;
  for (int64_t i = 0; i < n; i++) {
    if (!isfinite(ref[i])) continue;
    const double e = fabs((double)got[i] - ref[i]);
    maxref = fmax(maxref, fabs(ref[i]));
    se += e * e;
    sr += (double)ref[i] * ref[i];
    if (e > maxerr) maxerr = e, wi = i;
  }
  const double budget = rel * maxref, share = maxerr == 0.0 ? 0.0 : budget > 0.0 ? maxerr / budget : INFINITY;
  const double nm = sr > 0.0 ? se / sr : se > 0.0 ? INFINITY : 0.0;
  result(share <= 1.0 && nm <= nmse, name,
         "worst at %lld: got %.9g, ref %.9g, %.3g%% of budget %.0e*max|ref|; NMSE %.3g, %.3g%% of %.0e", (long long)wi,
         got[wi], ref[wi], 100.0 * share, rel, nm, 100.0 * nm / nmse, nmse);
}

/* Two runs of one op on the same inputs: bit-identical outputs. */
void check_bits(const char *name, const float *a, const float *b, int64_t n) {
  const int same = memcmp(a, b, (size_t)n * sizeof(float)) == 0;
  result(same, name, "%lld floats %s", (long long)n, same ? "equal" : "differ");
}

void check_int(const char *name, const int32_t *got, const int32_t *ref, int64_t n) {
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < n; i++)
    if (got[i] != ref[i]) bad++, first = first < 0 ? i : first;
  if (bad) result(0, name, "%lld of %lld differ; first at %lld: got %d, ref %d", (long long)bad, (long long)n,
                  (long long)first, got[first], ref[first]);
  else result(1, name, "%lld int32 values equal", (long long)n);
}

/* An elementwise op's check, elementwise in every storage (issue 13: a bound relative to max|ref|
 * lets small entries be wrong): rtol32, atol32 as check_close in fp32; in 16-bit storage, where
 * the GPU rounds `roundings` more times than the CPU, each rounding adds U of the value it rounds
 * (bounded by |ref| + |scale|: scale is the intermediate a chain rounds, e.g. the gated term of a
 * residual, or NULL) and, in fp16, half the subnormal spacing (2^-25) for values near 0. */
void check_st_scaled(const char *name, const float *got, const float *ref, const float *scale, int64_t n,
                     double rtol32, double atol32, int roundings) {
  const double sub = DITC_STORAGE == DITC_STORAGE_F16 ? 0x1.0p-25 : 0.0;
  check_close_scaled(name, got, ref, scale, n, rel_st(rtol32, roundings), atol32 + roundings * sub);
}

void check_st(const char *name, const float *got, const float *ref, int64_t n, double rtol32, double atol32,
              int roundings) {
  check_st_scaled(name, got, ref, NULL, n, rtol32, atol32, roundings);
}

/* ---- buffers and random inputs -------------------------------------------------------------- */

void ck(cudaError_t e, const char *what, int line) {
  if (e == cudaSuccess) return;
  printf("not ok - CUDA error at line %d: %s: %s\n%d passed, %d failed\n", line, what, cudaGetErrorString(e),
         n_passed, n_failed + 1);
  exit(1);
}

enum { MAX_BUFS = 64 };
static void *host_bufs[MAX_BUFS], *dev_bufs[MAX_BUFS]; /* freed by release() after each test */
static int n_host, n_dev;

void *halloc(size_t bytes) { /* zeroed */
  void *p = calloc(bytes ? bytes : 1, 1);
  if (!p || n_host == MAX_BUFS) {
    printf("not ok - out of host memory or buffer slots\n");
    exit(1);
  }
  return host_bufs[n_host++] = p;
}
float *hf(int64_t n) { return halloc((size_t)n * sizeof(float)); }
float *dup(const float *h, int64_t n) { return memcpy(hf(n), h, (size_t)n * sizeof(float)); }

/* A device copy of bytes from h, or zeros when h is NULL. */
void *dput(const void *h, size_t bytes) {
  void *d = NULL;
  if (n_dev == MAX_BUFS) ck(cudaErrorMemoryAllocation, "buffer slots", __LINE__);
  CK(cudaMalloc(&d, bytes ? bytes : 1));
  dev_bufs[n_dev++] = d;
  if (h) CK(cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice));
  else CK(cudaMemset(d, 0, bytes));
  return d;
}
float *dputf(const float *h, int64_t n) { return dput(h, (size_t)n * sizeof(float)); }

/* Waits for ctx's stream, then copies bytes of d back to h. */
void get(void *h, const void *d, size_t bytes) {
  CK(cudaStreamSynchronize((cudaStream_t)ctx.stream));
  CK(cudaMemcpy(h, d, bytes, cudaMemcpyDeviceToHost));
}
void getf(float *h, const float *d, int64_t n) { get(h, d, (size_t)n * sizeof(float)); }

/* Storage on the device from the fp32 values h[n], which are rounded in place to what the storage
 * holds (so the CPU reference computes on the same inputs). */
ditc_st *dputs(float *h, int64_t n) {
  float *d32 = dputf(h, n);
  ditc_st *d = dput(NULL, (size_t)n * sizeof(ditc_st));
  cuda_to_storage(&ctx, d, d32, n);
  cuda_from_storage(&ctx, d32, d, n);
  getf(h, d32, n);
  return d;
}
/* n zeroed storage elements on the device. */
ditc_st *dzeros(int64_t n) { return dput(NULL, (size_t)n * sizeof(ditc_st)); }
/* Storage d[n] back to fp32 host values. */
void gets(float *h, const ditc_st *d, int64_t n) {
  float *d32 = dputf(NULL, n);
  cuda_from_storage(&ctx, d32, d, n);
  getf(h, d32, n);
}

void release(void) {
  while (n_host) free(host_bufs[--n_host]);
  while (n_dev) CK(cudaFree(dev_bufs[--n_dev]));
}

static uint64_t rng_state = 20240607; /* fixed seed: every run sees the same inputs */
static uint64_t splitmix64(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
double uniform(void) { return (double)(splitmix64() >> 11) * 0x1.0p-53; } /* [0, 1) */
/* n floats of N(mean, sd^2) (Box-Muller). */
float *randn(int64_t n, float mean, float sd) {
  float *p = hf(n);
  for (int64_t i = 0; i < n; i++)
    p[i] = mean + sd * (float)(sqrt(-2.0 * log(1.0 - uniform())) * cos(6.283185307179586 * uniform()));
  return p;
}

int summary(void) {
  printf("%d passed, %d failed\n", n_passed, n_failed);
  return n_failed ? 1 : 0;
}
