/* cuda/vae_attention.cu: cuda_frame_attention, the one-head attention of a VAE's mid block within
 * each image (cpu/ops.h): q, k, v, out [N, C, T, HW], for each frame (n, t) the HW tokens attend
 * to each other with C-dimensional features, C up to 512 and HW up to ~6400 at release sizes. A
 * flash-style kernel in fp32 (storage loaded to fp32, one rounding on store): one block per
 * (frame, tile of FA_BQ queries, tile of up to CMAX output channels), keys FA_BKV at a time with an
 * online softmax, the output rows in registers. Correct before fast: plain fp32 FMAs, no tensor
 * cores. Not here: the DiT's attention (cuda/attention.cu), the norm and the 1x1 projections
 * around it (cuda/vae.cu's group_norm and conv3d). */
#include <math.h>

#include "cuda/common.cuh"

enum { FA_BQ = 32, FA_BKV = 64, FA_CC = 32, FA_THREADS = 256 };

/* Block (query tile, frame, channel tile), 256 threads. Scores: thread (sq, sk) = (tid / 16,
 * tid % 16) holds queries 2sq, 2sq+1 against keys sk + 16j (j < 4), summed over C in chunks of
 * FA_CC channels staged in shared memory (the rows of q and k are channels, tokens contiguous).
 * Then the online softmax per query row (its 16 threads reduce with shuffles) writes the
 * probabilities P and each row's correction exp(m_old - m_new). Output: thread (tq, tc) = (tid %
 * 32, tid / 32) holds query tq and channels tc + 8i (i < 4) of every FA_CC chunk of its tile:
 * o = o * corr + P v, the v chunk staged like k. Queries and keys past HW read zeros; keys past HW
 * score -inf. */
template <int CMAX>
static __global__ void __launch_bounds__(FA_THREADS)
    frame_attention_kernel(st_t *__restrict__ out, const st_t *__restrict__ q, const st_t *__restrict__ k,
                           const st_t *__restrict__ v, int C, int T, int HW, float scale) {
  constexpr int NCH = CMAX / FA_CC; /* output chunks a thread holds */
  __shared__ float Qs[FA_CC][FA_BQ];
  __shared__ float KVs[FA_CC][FA_BKV];     /* a k chunk, then a v chunk */
  __shared__ float Ps[FA_BQ][FA_BKV + 1];  /* probabilities of the key tile (+1: no bank conflicts) */
  __shared__ float corr[FA_BQ], linv[FA_BQ];

  const int tid = threadIdx.x, sq = tid / 16, sk = tid % 16, tq = tid % 32, tc = tid / 32;
  const int q0 = blockIdx.x * FA_BQ, frame = blockIdx.y, c_lo = blockIdx.z * CMAX;
  const int64_t cs = (int64_t)T * HW; /* between channels */
  const int64_t base = ((int64_t)(frame / T) * C * T + frame % T) * HW;
  const st_t *qf = q + base, *kf = k + base, *vf = v + base;

  float o[NCH][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
#pragma unroll
  for (int c = 0; c < NCH; c++)
#pragma unroll
    for (int i = 0; i < 4; i++) o[c][i] = 0.0f;

  for (int k0 = 0; k0 < HW; k0 += FA_BKV) {
    /* scores s[r][j] = q[:, q0 + 2sq + r] . k[:, k0 + sk + 16j] */
    float s[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
    for (int c0 = 0; c0 < C; c0 += FA_CC) {
      for (int e = tid; e < FA_CC * FA_BQ; e += FA_THREADS) {
        const int c = c0 + e / FA_BQ, p = q0 + e % FA_BQ;
        Qs[e / FA_BQ][e % FA_BQ] = c < C && p < HW ? ld(qf[c * cs + p]) : 0.0f;
      }
      for (int e = tid; e < FA_CC * FA_BKV; e += FA_THREADS) {
        const int c = c0 + e / FA_BKV, p = k0 + e % FA_BKV;
        KVs[e / FA_BKV][e % FA_BKV] = c < C && p < HW ? ld(kf[c * cs + p]) : 0.0f;
      }
      __syncthreads();
#pragma unroll 8
      for (int c = 0; c < FA_CC; c++) {
        const float qa = Qs[c][2 * sq], qb = Qs[c][2 * sq + 1];
#pragma unroll
        for (int j = 0; j < 4; j++) {
          const float kv = KVs[c][sk + 16 * j];
          s[0][j] = fmaf(qa, kv, s[0][j]);
          s[1][j] = fmaf(qb, kv, s[1][j]);
        }
      }
      __syncthreads();
    }
    /* online softmax of rows 2sq, 2sq+1 over this key tile */
#pragma unroll
    for (int r = 0; r < 2; r++) {
      float mx = -INFINITY;
#pragma unroll
      for (int j = 0; j < 4; j++) {
        s[r][j] = k0 + sk + 16 * j < HW ? s[r][j] * scale : -INFINITY;
        mx = fmaxf(mx, s[r][j]);
      }
      for (int off = 8; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
      const float m_new = fmaxf(m[r], mx), c_r = expf(m[r] - m_new); /* m[r] = -inf at first: 0 */
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < 4; j++) {
        const float p = expf(s[r][j] - m_new);
        Ps[2 * sq + r][sk + 16 * j] = p;
        sum += p;
      }
      for (int off = 8; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
      l[r] = l[r] * c_r + sum;
      m[r] = m_new;
      if (sk == 0) corr[2 * sq + r] = c_r;
    }
    __syncthreads();
    /* o = o * corr + P v over this tile's channels */
    const float cr = corr[tq];
#pragma unroll
    for (int ch = 0; ch < NCH; ch++) {
      const int c0 = c_lo + ch * FA_CC;
      if (c0 >= C) break; /* uniform across the block */
      for (int e = tid; e < FA_CC * FA_BKV; e += FA_THREADS) {
        const int c = c0 + e / FA_BKV, p = k0 + e % FA_BKV;
        KVs[e / FA_BKV][e % FA_BKV] = c < C && p < HW ? ld(vf[c * cs + p]) : 0.0f;
      }
      __syncthreads();
      float acc[4];
#pragma unroll
      for (int i = 0; i < 4; i++) acc[i] = o[ch][i] * cr;
#pragma unroll 8
      for (int j = 0; j < FA_BKV; j++) {
        const float p = Ps[tq][j];
#pragma unroll
        for (int i = 0; i < 4; i++) acc[i] = fmaf(p, KVs[tc + 8 * i][j], acc[i]);
      }
#pragma unroll
      for (int i = 0; i < 4; i++) o[ch][i] = acc[i];
      __syncthreads();
    }
  }

  if (sk == 0) linv[2 * sq] = 1.0f / l[0], linv[2 * sq + 1] = 1.0f / l[1];
  __syncthreads();
  const int p = q0 + tq;
  if (p >= HW) return;
  const float li = linv[tq];
#pragma unroll
  for (int ch = 0; ch < NCH; ch++)
#pragma unroll
    for (int i = 0; i < 4; i++) {
      const int c = c_lo + ch * FA_CC + tc + 8 * i;
      if (c < C) out[base + c * cs + p] = to_st(o[ch][i] * li);
    }
}

/* Channel tiles of 64 (C <= 64) or 512: a C above 512 recomputes the scores once per tile. */
void cuda_frame_attention(const cuda_ctx *ctx, ditc_st *out, const ditc_st *q, const ditc_st *k, const ditc_st *v,
                          int64_t N, int64_t C, int64_t T, int64_t HW, float scale) {
  if (N <= 0 || C <= 0 || T <= 0 || HW <= 0) return;
  OPS_CHECK(N * T <= 65535 && HW < INT32_MAX && C < INT32_MAX); /* frames in grid.y; tokens, channels in int */
  const unsigned qt = (unsigned)((HW + FA_BQ - 1) / FA_BQ);
  if (C <= 64)
    LAUNCH(frame_attention_kernel<64>, dim3(qt, (unsigned)(N * T), 1), FA_THREADS, 0, stream_of(ctx), st_ptr(out),
           st_ptr(q), st_ptr(k), st_ptr(v), (int)C, (int)T, (int)HW, scale);
  else
    LAUNCH(frame_attention_kernel<512>, dim3(qt, (unsigned)(N * T), (unsigned)((C + 511) / 512)), FA_THREADS, 0,
           stream_of(ctx), st_ptr(out), st_ptr(q), st_ptr(k), st_ptr(v), (int)C, (int)T, (int)HW, scale);
}
