/* cuda/sampler.cu: the sampler's elementwise work on the device, so a CUDA run keeps the latent
 * there between steps: the CFG batch x [B, ...] and timesteps t [B] from z before a step, and
 * after it classifier-free guidance fused with the scheduler update of z (RFLOW, DDIM, PNDM with
 * its Runge-Kutta warm-up), term for term as runtime/denoiser/sampler.c computes them on the host
 * (__fmul_rn/__fadd_rn keep nvcc from contracting what the CPU rounds, so fp32 results are the
 * host's bit for bit). All buffers are the fp32 io buffers of the arena. Not here: which buffers
 * and coefficients a step uses (cuda/backend.c reads them from the variant), the loop. */
#include "cuda/common.cuh"
#include "ditc_abi.h"

/* ---- before a step ------------------------------------------------------------------------- */

/* One thread per element of x [B, per]: x[b] = z[b % Bp]; t[b] = t_step. */
static __global__ void sampler_prepare_kernel(float *__restrict__ x, float *__restrict__ t,
                                              const float *__restrict__ z, int B, int Bp, int64_t per,
                                              float t_step) {
  GRID_LOOP(e, (int64_t)B * per) {
    const int b = (int)(e / per);
    x[e] = z[(int64_t)(b % Bp) * per + e % per];
    if (e % per == 0) t[b] = t_step;
  }
}

void cuda_sampler_prepare(const cuda_ctx *ctx, float *x, float *t, const float *z, int B, int Bp, int64_t per,
                          float t_step) {
  LAUNCH_N(ctx, sampler_prepare_kernel, (int64_t)B * per, x, t, z, B, Bp, per, t_step);
}

/* ---- after a step ---------------------------------------------------------------------------- */

/* The guided output of element k of prompt p: u + cfg * (c - u), out rows [B, out_per]. */
static __device__ __forceinline__ float guided(const float *out, int64_t k, int64_t per, int64_t out_per, int Bp,
                                               int cond_first, float cfg) {
  const int p = (int)(k / per);
  const int64_t e = k % per;
  const int bc = cond_first ? p : Bp + p, bu = cond_first ? Bp + p : p;
  const float c = out[bc * out_per + e], u = out[bu * out_per + e];
  return __fadd_rn(u, __fmul_rn(cfg, __fsub_rn(c, u)));
}

/* RFLOW: z += v * dt, v the guided velocity; one thread per element of z [Bp, per]. */
static __global__ void rflow_kernel(float *__restrict__ z, const float *__restrict__ out, int Bp, int64_t per,
                                    int64_t out_per, int cond_first, float cfg, float dt) {
  GRID_LOOP(k, (int64_t)Bp * per) {
    z[k] = __fadd_rn(z[k], __fmul_rn(guided(out, k, per, out_per, Bp, cond_first, cfg), dt));
  }
}

/* DDIM (eta 0) with c = {sqrt(1-a_t), sqrt(a_t), sqrt(a_prev), sqrt(1-a_prev)}; eps keeps the
 * guided output (the state's first buffer, as on the host). */
static __global__ void ddim_kernel(float *__restrict__ z, float *__restrict__ eps, const float *__restrict__ out,
                                   int Bp, int64_t per, int64_t out_per, int cond_first, float cfg, float4 c) {
  GRID_LOOP(k, (int64_t)Bp * per) {
    const float e = guided(out, k, per, out_per, Bp, cond_first, cfg);
    eps[k] = e;
    const float x0 = __fdiv_rn(__fsub_rn(z[k], __fmul_rn(c.x, e)), c.y);
    z[k] = __fadd_rn(__fmul_rn(c.z, x0), __fmul_rn(c.w, e));
  }
}

/* The PNDM state buffers of one update ([Bp, per] each), chosen on the host from the ring count. */
typedef struct {
  float *eps, *ets_new, *cur, *acc;
  const float *e1, *e2, *e3, *e4; /* newest first; mode 4 only */
} pndm_bufs;

/* diffusers' _get_prev_sample: coef[0] * base - coef[1] * e / coef[2]. */
static __device__ __forceinline__ float pndm_prev(float base, float e, float4 c) {
  return __fsub_rn(__fmul_rn(c.x, base), __fdiv_rn(__fmul_rn(c.y, e), c.z));
}

/* PNDM: mode 0..3 the Runge-Kutta calls of a step, 4 linear multistep (see sampler.c). */
static __global__ void pndm_kernel(float *__restrict__ z, pndm_bufs s, const float *__restrict__ out, int Bp,
                                   int64_t per, int64_t out_per, int cond_first, float cfg, float4 c, int mode) {
  const float sixth = (float)(1.0 / 6.0), third = (float)(1.0 / 3.0), inv24 = (float)(1.0 / 24.0);
  GRID_LOOP(k, (int64_t)Bp * per) {
    float e = guided(out, k, per, out_per, Bp, cond_first, cfg);
    if (mode == 0) {
      s.acc[k] = __fmul_rn(sixth, e);
      s.ets_new[k] = e;
      s.cur[k] = z[k];
    } else if (mode < 3) {
      s.acc[k] = __fadd_rn(s.acc[k], __fmul_rn(third, e));
    } else if (mode == 3) {
      e = __fadd_rn(s.acc[k], __fmul_rn(sixth, e));
      s.acc[k] = 0.0f;
    } else {
      s.ets_new[k] = e;
      const float t1 = __fsub_rn(__fmul_rn(55.0f, s.e1[k]), __fmul_rn(59.0f, s.e2[k]));
      const float t2 = __fsub_rn(__fadd_rn(t1, __fmul_rn(37.0f, s.e3[k])), __fmul_rn(9.0f, s.e4[k]));
      e = __fmul_rn(inv24, t2);
    }
    s.eps[k] = e;
    z[k] = pndm_prev(mode < 4 ? s.cur[k] : z[k], e, c);
  }
}

void cuda_sampler_update(const cuda_ctx *ctx, const cuda_sampler_step *st) {
  const int64_t n = (int64_t)st->Bp * st->per;
  const float4 c = make_float4(st->coef[0], st->coef[1], st->coef[2], st->coef[3]);
  if (st->kind == DITC_SAMPLER_RFLOW) {
    LAUNCH_N(ctx, rflow_kernel, n, st->z, st->out, st->Bp, st->per, st->out_per, st->cond_first, st->cfg, c.x);
  } else if (st->kind == DITC_SAMPLER_DDIM) {
    LAUNCH_N(ctx, ddim_kernel, n, st->z, st->state, st->out, st->Bp, st->per, st->out_per, st->cond_first, st->cfg, c);
  } else {
    const pndm_bufs s = {st->state, st->ets[0], st->cur, st->acc, st->ets[1], st->ets[2], st->ets[3], st->ets[4]};
    LAUNCH_N(ctx, pndm_kernel, n, st->z, s, st->out, st->Bp, st->per, st->out_per, st->cond_first, st->cfg, c,
             st->mode);
  }
}
