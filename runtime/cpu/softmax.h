/* cpu/softmax.h: the CPU reference's softmax of a row, the attention ops' one: the row's maximum m,
 * e_j = exp(x_j - m) (cpu/vmath.h's exp), their sum in double in cpu/rowsum.h's order, then
 * x_j = e_j * (float)(1 / sum). Written once, compiled as clones (cpu/isa.h): the same bits on
 * every CPU.
 * Not here: the scores and values around it (cpu/ops.c, cpu/encoder.c). */
#ifndef DITC_CPU_SOFTMAX_H
#define DITC_CPU_SOFTMAX_H

#include <stdint.h>

/* In place on rows [rows, len] (row r at p + r * len). */
void cpu_softmax_rows(float *p, int64_t rows, int64_t len);

#endif
