/* tests/stcmp.c: compares tensors of two safetensors files for the test suite.
 *   stcmp [--rel R] [--exact] [--slices] [--label TEXT] A.safetensors NAME_A B.safetensors NAME_B
 * passes iff max|a - b| <= R * max|b| (b is the reference; R defaults to 1e-4), with NaN/Inf
 * parity (always checked first); --exact requires bit equality; --nmse X instead requires sum (a - b)^2 / sum b^2 <= X
 * (for reduced-precision builds, whose bound is on the whole tensor); --slices applies the rule to
 * every index of dim 0 separately (each slice relative to its own values). Prints one "ok - ..." or "not ok - ..." line
 * with the worst index, both values and the share of the budget used; exit status 0 / 1.
 *   stcmp --pattern OURS_PAB OURS_OFF REF_PAB REF_OFF NAME
 * checks that, slice by slice of dim 0, ours is bit-equal to ours-off exactly where the reference
 * is bit-equal to its reference-off (PAB changes results from the same step on).
 * Not a general diff tool. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

static const st_tensor *open_tensor(st_file *f, const char *path, const char *name) {
  ditc_err err;
  if (st_open(f, path, &err)) {
    printf("not ok - %s\n", err.msg);
    exit(1);
  }
  const st_tensor *t = st_find(f, name);
  if (!t) {
    printf("not ok - %s: no tensor '%s'\n", path, name);
    exit(1);
  }
  return t;
}

static int slices_equal(const st_tensor *a, const st_tensor *b, int64_t i, int64_t per) {
  for (int64_t k = i * per; k < (i + 1) * per; k++)
    if (st_get(a, k) != st_get(b, k)) return 0;
  return 1;
}

/* NaN, +Inf and -Inf at the same elements of a and b; prints the failed check if not. */
static int parity_ok(const st_tensor *a, const st_tensor *b, const char *what) {
  for (int64_t k = 0; k < b->numel; k++) {
    const double x = st_get(a, k), y = st_get(b, k);
    if (isfinite(x) != isfinite(y) || (!isfinite(x) && !(isnan(x) && isnan(y)) && x != y)) {
      printf("not ok - %s: NaN/Inf parity at element %lld (%g vs %g)\n", what, (long long)k, x, y);
      return 0;
    }
  }
  return 1;
}

static int pattern(char **argv) {
  st_file f[4];
  const st_tensor *t[4];
  for (int i = 0; i < 4; i++) t[i] = open_tensor(&f[i], argv[i], argv[4]);
  if (t[0]->numel != t[1]->numel || t[2]->numel != t[3]->numel || t[0]->shape[0] != t[2]->shape[0]) {
    printf("not ok - pattern %s: shapes differ\n", argv[4]);
    return 1;
  }
  const int64_t n = t[0]->shape[0], per = t[0]->numel / n;
  char ours[512] = "", ref[512] = "";
  for (int64_t i = 0; i < n && i < 500; i++) {
    ours[i] = slices_equal(t[0], t[1], i, per) ? '=' : 'x';
    ref[i] = slices_equal(t[2], t[3], i, per) ? '=' : 'x';
  }
  const int ok = strcmp(ours, ref) == 0;
  printf("%s - PAB-on vs PAB-off equal (=) / different (x) per step of %s: ours %s, upstream %s\n",
         ok ? "ok" : "not ok", argv[4], ours, ref);
  for (int i = 0; i < 4; i++) st_close(&f[i]);
  return !ok;
}

int main(int argc, char **argv) {
  double rel = 1e-4, nmse = -1.0;
  int exact = 0, slices = 0;
  const char *label = NULL;
  int i = 1;
  if (argc == 7 && !strcmp(argv[1], "--pattern")) return pattern(argv + 2);
  for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
    if (!strcmp(argv[i], "--rel") && i + 1 < argc) rel = atof(argv[++i]);
    else if (!strcmp(argv[i], "--exact")) exact = 1;
    else if (!strcmp(argv[i], "--nmse") && i + 1 < argc) nmse = atof(argv[++i]);
    else if (!strcmp(argv[i], "--slices")) slices = 1;
    else if (!strcmp(argv[i], "--label") && i + 1 < argc) label = argv[++i];
    else {
      fprintf(stderr, "stcmp: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (argc - i != 4) {
    fprintf(stderr, "usage: stcmp [--rel R | --nmse X | --exact] [--slices] [--label T] A NAME_A B NAME_B\n");
    return 2;
  }
  st_file fa, fb;
  const st_tensor *a = open_tensor(&fa, argv[i], argv[i + 1]);
  const st_tensor *b = open_tensor(&fb, argv[i + 2], argv[i + 3]);
  char what[512];
  snprintf(what, sizeof what, "%s", label ? label : argv[i + 1]);
  if (a->numel != b->numel) { /* shapes may differ by singleton dims ([1, N] vs [N]) */
    printf("not ok - %s: %lld elements vs %lld in the reference\n", what, (long long)a->numel, (long long)b->numel);
    return 1;
  }
  if (!parity_ok(a, b, what)) return 1;
  const int64_t n = slices ? b->shape[0] : 1, per = b->numel / (n ? n : 1);
  double worst_share = 0.0, worst_a = 0.0, worst_b = 0.0, worst_err = 0.0;
  int64_t worst_i = -1;
  int ok = 1;
  if (nmse >= 0.0) { /* NMSE per slice, with NaN/Inf parity */
    double worst = 0.0;
    int64_t worst_s = 0;
    for (int64_t s = 0; s < n; s++) {
      double se = 0.0, sr = 0.0;
      for (int64_t k = s * per; k < (s + 1) * per; k++) {
        const double x = st_get(a, k), y = st_get(b, k);
        if (!isfinite(x)) continue;
        se += (x - y) * (x - y);
        sr += y * y;
      }
      const double v = sr > 0.0 ? se / sr : (se > 0.0 ? INFINITY : 0.0);
      if (v > worst || s == 0) worst = v, worst_s = s;
    }
    ok = worst <= nmse;
    char where[64] = "";
    if (slices) snprintf(where, sizeof where, " (worst slice %lld of dim 0)", (long long)worst_s);
    printf("%s - %s: NMSE %.3g%s, %.2f%% of the bound %.1e\n", ok ? "ok" : "not ok", what, worst, where,
           nmse > 0.0 ? 100.0 * worst / nmse : (worst > 0.0 ? INFINITY : 0.0), nmse);
    st_close(&fa);
    st_close(&fb);
    return !ok;
  }
  for (int64_t s = 0; s < n; s++) {
    double mx = 0.0;
    for (int64_t k = s * per; k < (s + 1) * per; k++) mx = fmax(mx, fabs(st_get(b, k)));
    const double budget = exact ? 0.0 : rel * mx;
    for (int64_t k = s * per; k < (s + 1) * per; k++) {
      const double x = st_get(a, k), y = st_get(b, k);
      if (!isfinite(x)) continue;
      const double e = fabs(x - y);
      const double share = budget > 0 ? e / budget : (e > 0 ? INFINITY : 0.0);
      if (share > worst_share || worst_i < 0) worst_share = share, worst_i = k, worst_a = x, worst_b = y, worst_err = e;
      if (exact ? x != y : e > budget) ok = 0;
    }
  }
  printf("%s - %s: max|err| %.3g at element %lld (%.9g vs ref %.9g), %s%.2f%% of the budget%s\n", ok ? "ok" : "not ok",
         what, worst_err, (long long)worst_i, worst_a, worst_b, exact ? "exact; " : "", exact ? (ok ? 0.0 : 100.0) : 100.0 * worst_share,
         slices ? " (per slice of dim 0)" : "");
  st_close(&fa);
  st_close(&fb);
  return !ok;
}
