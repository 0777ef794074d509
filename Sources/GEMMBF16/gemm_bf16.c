// bf16 GEMM with fp32 accumulation on AVX512-BF16 (VDPBF16PS). Why C: Swift has no bf16 vector type and cannot emit
// VDPBF16PS; clang's intrinsics can. Why target attributes instead of -mavx512bf16 for the file: the binary must still
// start on CPUs without AVX-512 (the Swift side calls in here only after CPUFeatures said yes), and a file-wide flag
// would let the compiler use AVX-512 in any function of it.
//
// Blocking is the fp32 GEMM's (Sources/Kernels/GEMM.swift, BLIS/Goto): for each block of 1024 columns and 256 k's B
// is packed once (512 KB of bf16, in L2), for each block of 96 rows A is packed (12 × 256 bf16 = 6 KB per micro-panel,
// in L1), and a 12 × 32 tile of C stays in 24 zmm accumulators while the micro-kernel runs down k. What differs is
// the packed layout VDPBF16PS wants: it multiplies *pairs* of bf16 in each 32-bit lane, dst[j] += a[2j]·b[2j] +
// a[2j+1]·b[2j+1], so both operands are packed as k-pairs (the layout oneDNN calls VNNI-2): a 32-bit word holds
// bf16(X(k)) in its low half and bf16(X(k+1)) in its high half, k even. The B micro-panel holds 32 such words per pair
// of k's (one per column, two zmm registers); the A micro-panel holds 12 words per pair (one per row), each broadcast
// to all lanes. An odd k count is padded with a zero bf16. Rounding to bf16 happens here, while packing, so the
// callers keep fp32 tensors (autocast's casts of matmul inputs). Every C element is summed over k-blocks in ascending
// order, and within a block pair after pair, whatever the tile, block or thread: results do not depend on threads.

#include "gemm_bf16.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")))

enum {
    micro_rows = dpo_dist_bf16_micro_rows,
    micro_columns = dpo_dist_bf16_micro_columns,
    reduction_block = 256,  // k's per packed block (128 pairs)
    row_block = 96,         // a multiple of micro_rows
    column_block = 1024,    // a multiple of micro_columns
};

/// fp32 → bf16, round to nearest even (as VCVTNEPS2BF16 and PyTorch's cast); a NaN stays a (quiet) NaN.
static inline uint32_t bf16_bits(float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (bits >> 16) | 0x40u;
    return (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
}

/// The packed word of X(k) and X(k + 1); X(k + 1) is 0 when `has_second` is 0 (the padding of an odd k count).
static inline uint32_t bf16_pair(float first, float second, int has_second) {
    return bf16_bits(first) | (has_second ? bf16_bits(second) << 16 : 0u);
}

/// A[m0 ..< m0+m_count, k0 ..< k0+k_count] as panels of micro_rows rows: packed[panel·pairs·12 + p·12 + i] is the pair
/// (A(m, k0+2p), A(m, k0+2p+1)) of row m = m0 + 12·panel + i; rows past m_count are zero.
BF16_TARGET
static void pack_a(uint32_t *packed, const float *a, long row_stride, long column_stride,
                   long m0, long m_count, long k0, long k_count) {
    const long pairs = (k_count + 1) / 2;
    for (long panel_start = 0; panel_start < m_count; panel_start += micro_rows) {
        uint32_t *panel = packed + panel_start * pairs;
        for (long i = 0; i < micro_rows; i++) {
            if (panel_start + i >= m_count) {
                for (long p = 0; p < pairs; p++) panel[p * micro_rows + i] = 0;
                continue;
            }
            const float *row = a + (m0 + panel_start + i) * row_stride + k0 * column_stride;
            for (long p = 0; p < pairs; p++) {
                const long k = 2 * p;
                panel[p * micro_rows + i] = bf16_pair(row[k * column_stride],
                                                      k + 1 < k_count ? row[(k + 1) * column_stride] : 0.f,
                                                      k + 1 < k_count);
            }
        }
    }
}

/// B[k0 ..< k0+k_count, n0 ..< n0+n_count] as panels of micro_columns columns: packed[q·pairs·32 + p·32 + j] is the
/// pair (B(k0+2p, n), B(k0+2p+1, n)) of column n = n0 + 32q + j; columns past n_count are zero.
BF16_TARGET
static void pack_b(uint32_t *packed, const float *b, long row_stride, long column_stride,
                   long k0, long k_count, long n0, long n_count) {
    const long pairs = (k_count + 1) / 2;
    for (long panel_start = 0; panel_start < n_count; panel_start += micro_columns) {
        uint32_t *panel = packed + panel_start * pairs;
        const long columns = n_count - panel_start < micro_columns ? n_count - panel_start : micro_columns;
        if (column_stride == 1 && columns == micro_columns) {
            // Rows of B contiguous in n: two rows of 32 floats become 32 words, column j in lane j.
            for (long p = 0; p < pairs; p++) {
                const float *first = b + (k0 + 2 * p) * row_stride + n0 + panel_start;
                const int has_second = 2 * p + 1 < k_count;
                for (long half = 0; half < micro_columns; half += 16) {
                    __m512i low = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(first + half)));
                    __m512i high = has_second
                        ? _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(first + row_stride + half)))
                        : _mm512_setzero_si512();
                    _mm512_store_si512(panel + p * micro_columns + half, _mm512_or_si512(low, _mm512_slli_epi32(high, 16)));
                }
            }
            continue;
        }
        for (long j = 0; j < micro_columns; j++) {
            if (j >= columns) {
                for (long p = 0; p < pairs; p++) panel[p * micro_columns + j] = 0;
                continue;
            }
            const float *column = b + k0 * row_stride + (n0 + panel_start + j) * column_stride;
            for (long p = 0; p < pairs; p++) {
                const long k = 2 * p;
                panel[p * micro_columns + j] = bf16_pair(column[k * row_stride],
                                                         k + 1 < k_count ? column[(k + 1) * row_stride] : 0.f,
                                                         k + 1 < k_count);
            }
        }
    }
}

/// How a tile's accumulators start.
typedef enum { start_accumulate, start_bias, start_zero } tile_start;

/// c[12 × 32, row stride c_stride] (+)= packed A micro-panel · packed B micro-panel over `pairs` pairs of k's.
BF16_TARGET
static void micro_tile(long pairs, const uint32_t *packed_a, const uint32_t *packed_b, float *c, long c_stride,
                       tile_start start, const float *bias) {
    __m512 acc[micro_rows][2];
    for (int i = 0; i < micro_rows; i++) {
        switch (start) {
        case start_accumulate:
            acc[i][0] = _mm512_loadu_ps(c + i * c_stride);
            acc[i][1] = _mm512_loadu_ps(c + i * c_stride + 16);
            break;
        case start_bias:
            acc[i][0] = _mm512_loadu_ps(bias);
            acc[i][1] = _mm512_loadu_ps(bias + 16);
            break;
        case start_zero:
            acc[i][0] = acc[i][1] = _mm512_setzero_ps();
            break;
        }
    }
    for (long p = 0; p < pairs; p++) {
        const __m512bh b0 = (__m512bh)_mm512_load_si512(packed_b + p * micro_columns);
        const __m512bh b1 = (__m512bh)_mm512_load_si512(packed_b + p * micro_columns + 16);
        const uint32_t *a = packed_a + p * micro_rows;
        for (int i = 0; i < micro_rows; i++) {
            const __m512bh broadcast = (__m512bh)_mm512_set1_epi32((int)a[i]);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], broadcast, b0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], broadcast, b1);
        }
    }
    for (int i = 0; i < micro_rows; i++) {
        _mm512_storeu_ps(c + i * c_stride, acc[i][0]);
        _mm512_storeu_ps(c + i * c_stride + 16, acc[i][1]);
    }
}

/// A tile with fewer than 12 rows or 32 columns: the full tile runs on a scratch copy (the packs are zero-padded), and
/// only the rows × columns that exist are read from and written to C.
BF16_TARGET
static void edge_tile(long rows, long columns, long pairs, const uint32_t *packed_a, const uint32_t *packed_b,
                      float *c, long c_stride, tile_start start, const float *bias) {
    float scratch[micro_rows * micro_columns] __attribute__((aligned(64)));
    float padded_bias[micro_columns] __attribute__((aligned(64)));
    memset(scratch, 0, sizeof scratch);
    if (start == start_accumulate) {
        for (long i = 0; i < rows; i++) memcpy(scratch + i * micro_columns, c + i * c_stride, columns * sizeof(float));
    } else if (start == start_bias) {
        memset(padded_bias, 0, sizeof padded_bias);
        memcpy(padded_bias, bias, columns * sizeof(float));
        bias = padded_bias;
    }
    micro_tile(pairs, packed_a, packed_b, scratch, micro_columns, start, bias);
    for (long i = 0; i < rows; i++) memcpy(c + i * c_stride, scratch + i * micro_columns, columns * sizeof(float));
}

static long round_up(long value, long multiple) { return (value + multiple - 1) / multiple * multiple; }

BF16_TARGET
void dpo_dist_gemm_bf16_blocked(float *c, long c_stride,
                                const float *a, long a_row_stride, long a_column_stride,
                                const float *b, long b_row_stride, long b_column_stride,
                                long row_begin, long row_end, long column_begin, long column_end, long reduction,
                                int overwrite, const float *bias) {
    const long row_count = row_end - row_begin, column_count = column_end - column_begin;
    if (row_count <= 0 || column_count <= 0) return;
    const long k_block = reduction < 1 ? 1 : (reduction < reduction_block ? reduction : reduction_block);
    const long pair_block = (k_block + 1) / 2;
    const long a_words = round_up(row_count < row_block ? row_count : row_block, micro_rows) * pair_block;
    const long b_words = round_up(column_count < column_block ? column_count : column_block, micro_columns) * pair_block;
    uint32_t *packed_a = aligned_alloc(64, round_up(a_words * sizeof(uint32_t), 64));
    uint32_t *packed_b = aligned_alloc(64, round_up(b_words * sizeof(uint32_t), 64));
    if (!packed_a || !packed_b) abort();  // a few hundred KB: only an exhausted machine gets here

    for (long n0 = column_begin; n0 < column_end; n0 += column_block) {
        const long n_count = column_end - n0 < column_block ? column_end - n0 : column_block;
        // A zero-length reduction still runs one empty block, which writes the bias (or zero) of `overwrite`.
        for (long k0 = 0; k0 < (reduction > 1 ? reduction : 1); k0 += reduction_block) {
            const long k_count = reduction - k0 < reduction_block ? reduction - k0 : reduction_block;
            const long pairs = k_count > 0 ? (k_count + 1) / 2 : 0;
            if (pairs > 0) pack_b(packed_b, b, b_row_stride, b_column_stride, k0, k_count, n0, n_count);
            for (long m0 = row_begin; m0 < row_end; m0 += row_block) {
                const long m_count = row_end - m0 < row_block ? row_end - m0 : row_block;
                if (pairs > 0) pack_a(packed_a, a, a_row_stride, a_column_stride, m0, m_count, k0, k_count);
                for (long i = 0; i < m_count; i += micro_rows) {
                    const long rows = m_count - i < micro_rows ? m_count - i : micro_rows;
                    for (long j = 0; j < n_count; j += micro_columns) {
                        const long columns = n_count - j < micro_columns ? n_count - j : micro_columns;
                        const tile_start start = (k0 > 0 || !overwrite) ? start_accumulate
                                               : (bias ? start_bias : start_zero);
                        const float *tile_bias = bias ? bias + n0 + j : NULL;
                        float *tile = c + (m0 + i) * c_stride + n0 + j;
                        const uint32_t *panel_a = packed_a + i * pairs, *panel_b = packed_b + j * pairs;
                        if (rows == micro_rows && columns == micro_columns) {
                            micro_tile(pairs, panel_a, panel_b, tile, c_stride, start, tile_bias);
                        } else {
                            edge_tile(rows, columns, pairs, panel_a, panel_b, tile, c_stride, start, tile_bias);
                        }
                    }
                }
            }
        }
    }
    free(packed_a);
    free(packed_b);
}

static double thread_cpu_seconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

BF16_TARGET
double dpo_dist_bf16_peak_gflops(long iterations) {
    // Twelve independent chains (more than latency × ports instructions in flight) with operands known only at run
    // time, so the compiler can neither merge nor fold them. The products are of numbers near 1 and near 0, so the
    // accumulators stay finite.
    enum { chains = 12 };
    const float scale = 1.f / (float)(iterations + 1);
    __m512 acc[chains];
    for (int chain = 0; chain < chains; chain++) acc[chain] = _mm512_set1_ps(1.f + (float)chain * scale);
    const __m512bh factor = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1.f - scale), _mm512_set1_ps(1.f - 2 * scale));
    const __m512bh addend = _mm512_cvtne2ps_pbh(_mm512_set1_ps(scale), _mm512_set1_ps(2 * scale));
    const double start = thread_cpu_seconds();
    for (long iteration = 0; iteration < iterations; iteration++) {
        for (int chain = 0; chain < chains; chain++) acc[chain] = _mm512_dpbf16_ps(acc[chain], factor, addend);
        __asm__ volatile("" : "+v"(acc[0]), "+v"(acc[5]), "+v"(acc[11]));  // keep the loop from being folded
    }
    const double seconds = thread_cpu_seconds() - start;
    float total = 0;
    for (int chain = 0; chain < chains; chain++) total += _mm512_reduce_add_ps(acc[chain]);
    if (total != total) abort();  // keeps the result observable
    // 32 bf16 products and 32 additions per instruction: 64 FLOP.
    return 64.0 * chains * (double)iterations / seconds / 1e9;
}
#else
void dpo_dist_gemm_bf16_blocked(float *c, long c_stride, const float *a, long a_row_stride, long a_column_stride,
                                const float *b, long b_row_stride, long b_column_stride, long row_begin, long row_end,
                                long column_begin, long column_end, long reduction, int overwrite, const float *bias) {
    (void)c; (void)c_stride; (void)a; (void)a_row_stride; (void)a_column_stride; (void)b; (void)b_row_stride;
    (void)b_column_stride; (void)row_begin; (void)row_end; (void)column_begin; (void)column_end; (void)reduction;
    (void)overwrite; (void)bias;
    __builtin_trap();  // never called: CPUFeatures reports no AVX512-BF16 on other architectures
}
double dpo_dist_bf16_peak_gflops(long iterations) { (void)iterations; return 0; }
#endif
