/* tests/cuda_test.h: the harness the CUDA op tests share (tests/cuda_test.c): the context, the
 * storage's unit roundoff and the tolerances derived from it, ok / not ok checks with the worst
 * index and the share of the budget used, buffers freed after each test, seeded random inputs, and
 * storage uploads that round the host values in place. Compiled once per storage (DITC_STORAGE).
 * Not a test itself. */
#ifndef DITC_CUDA_TEST_H
#define DITC_CUDA_TEST_H

#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu/ops.h"
#include "cuda/ops.h"

extern cuda_ctx ctx;

/* The storage's unit roundoff (half an ulp at 1): 0 for fp32 (no extra rounding), 2^-8 for
 * bf16 (8 significand bits), 2^-11 for fp16 (11). */
#if DITC_STORAGE == DITC_STORAGE_F32
static const double U = 0.0;
static const char *const STORAGE = "fp32";
#elif DITC_STORAGE == DITC_STORAGE_BF16
static const double U = 0x1.0p-8;
static const char *const STORAGE = "bf16";
#else
static const double U = 0x1.0p-11;
static const char *const STORAGE = "fp16";
#endif

/* A relative budget for a result that went through `roundings` storage roundings the CPU does not
 * make, on top of the fp32 budget rel32 (summation order etc.). */
static inline double rel_st(double rel32, int roundings) { return rel32 + roundings * U; }
/* The NMSE bound that goes with it: an error of rel * |ref| everywhere. */
static inline double nmse_st(int roundings, double nmse32) {
  const double r = roundings * U;
  return nmse32 + r * r;
}

/* ---- checks (each prints one line and counts it) ------------------------------------------------ */
__attribute__((format(printf, 3, 4))) int result(int ok, const char *name, const char *fmt, ...);
void check_close(const char *name, const float *got, const float *ref, int64_t n, double rtol, double atol);
void check_rel(const char *name, const float *got, const float *ref, int64_t n, double rel, double nmse);
void check_bits(const char *name, const float *a, const float *b, int64_t n);
void check_int(const char *name, const int32_t *got, const int32_t *ref, int64_t n);
void check_st(const char *name, const float *got, const float *ref, int64_t n, double rtol32, double atol32,
              int roundings);
/* As check_close / check_st with a budget relative to |ref| + |scale[i]| (scale: an intermediate). */
void check_close_scaled(const char *name, const float *got, const float *ref, const float *scale, int64_t n,
                        double rtol, double atol);
void check_st_scaled(const char *name, const float *got, const float *ref, const float *scale, int64_t n,
                     double rtol32, double atol32, int roundings);
/* Counts (prints nothing) the entries outside check_close_scaled's budget; worst share and index. */
int64_t count_outside(const float *got, const float *ref, const float *scale, int64_t n, double rtol, double atol,
                      double *worst, int64_t *wi);
/* "N passed, N failed"; returns the exit status. */
int summary(void);

/* ---- buffers and random inputs (released by release()) ---------------------------------------- */
#define CK(stmt) ck((stmt), #stmt, __LINE__)
void ck(cudaError_t e, const char *what, int line);
void *halloc(size_t bytes);
float *hf(int64_t n);
float *dup(const float *h, int64_t n);
void *dput(const void *h, size_t bytes);
float *dputf(const float *h, int64_t n);
void get(void *h, const void *d, size_t bytes);
void getf(float *h, const float *d, int64_t n);
ditc_st *dputs(float *h, int64_t n);
ditc_st *dzeros(int64_t n);
void gets(float *h, const ditc_st *d, int64_t n);
void release(void);
double uniform(void);
float *randn(int64_t n, float mean, float sd);

/* tests/cuda_attention_test.c */
void test_attention(void);
/* tests/cuda_encoder_test.c */
void test_encoder(void);

#endif
