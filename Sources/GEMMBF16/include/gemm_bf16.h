#pragma once
// The bf16 GEMM with fp32 accumulation (AVX512-BF16, VDPBF16PS). In C because Swift cannot emit the BF16 dot-product
// instructions: clang's intrinsics can, and each function here carries its own target attribute, so the rest of the
// binary stays at the build's CPU level and these are only called after CPUFeatures said the CPU has AVX512-BF16.

#include <stdint.h>

/// Rows and columns of C per micro-tile: 12 rows × 32 columns (two zmm registers of fp32 per row, 24 accumulators).
enum { dpo_dist_bf16_micro_rows = 12, dpo_dist_bf16_micro_columns = 32 };

/// One thread's share of C[m,n] (+)= Σ_k bf16(A(m,k))·bf16(B(k,n)) summed in fp32, for m in [row_begin, row_end),
/// n in [column_begin, column_end), k < reduction, where A(m,k) = a[m·a_row_stride + k·a_column_stride] and likewise B
/// (fp32 in memory, rounded to bf16 to nearest even while packed). C is fp32, row-major, row stride c_stride. With
/// overwrite != 0 the previous contents of C are replaced by the product plus bias[n] (or 0 when bias is NULL);
/// otherwise the product is added to them. Only call when dpo_dist_cpu_supports_avx512bf16() is 1.
void dpo_dist_gemm_bf16_blocked(float *c, long c_stride,
                                const float *a, long a_row_stride, long a_column_stride,
                                const float *b, long b_row_stride, long b_column_stride,
                                long row_begin, long row_end, long column_begin, long column_end, long reduction,
                                int overwrite, const float *bias);

/// Single-core VDPBF16PS throughput in GFLOP/s (2 FLOP per bf16 product pair-element: 64 per 512-bit instruction),
/// timed in thread CPU time over `iterations` rounds of 12 independent accumulator chains.
double dpo_dist_bf16_peak_gflops(long iterations);
