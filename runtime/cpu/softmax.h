/* cpu/softmax.h: the CPU reference's softmax of a row, the attention ops' one: the row's maximum m,
 * e_j = exp(x_j - m) (cpu/vmath.h's exp), their sum in double (16 lane sums over the blocks of 16,
 * the tail summed in order from 0, then the lane sums added to it in order), then x_j = e_j *
 * (float)(1 / sum). Portable and AVX-512 forms with the same bits, chosen at run time.
 * Not here: the scores and values around it (cpu/ops.c, cpu/encoder.c). */
#ifndef DITC_CPU_SOFTMAX_H
#define DITC_CPU_SOFTMAX_H

#include <stdint.h>

/* In place on rows [rows, len] (row r at p + r * len). */
void cpu_softmax_rows(float *p, int64_t rows, int64_t len);

#endif
