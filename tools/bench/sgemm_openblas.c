// OpenBLAS sgemm single-thread (or N-thread) GFLOP/s on the GEMM shapes of a GPT-2-style DPO step, as the Swift
// kernels run them: forward out = X·Wᵀ, input gradient dX = dY·W, weight gradient dW += dYᵀ·X.
// Build: cc -O2 -o /tmp/sgemm_openblas tools/bench/sgemm_openblas.c -lopenblas
// Usage: sgemm_openblas [threads] [repeats] — prints one JSON object per line: product, rows, in, out, GFLOP/s of the
// median wall time and of the median CPU time per thread.
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern void openblas_set_num_threads(int);
extern char *openblas_get_corename(void);

static int threads_used = 1;

static double seconds_of(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float *randoms(size_t n) {
    float *x = malloc(n * sizeof(float));
    unsigned s = 12345;
    for (size_t i = 0; i < n; i++) { s = s * 1103515245u + 12345u; x[i] = ((s >> 8) & 0xffff) / 65536.0f - 0.5f; }
    return x;
}

/// Times one product of a Linear layer with `rows` rows, in → out features; stores the GFLOP/s of the median wall
/// and the median process CPU time (which other processes sharing the cores do not inflate).
static void measure(const char *product, int rows, int in, int out, int repeats, double *wall_gflops, double *cpu_gflops) {
    float *x = randoms((size_t)rows * in), *w = randoms((size_t)out * in), *y = randoms((size_t)rows * out);
    double seconds[64], cpu_seconds[64];
    for (int r = 0; r < repeats + 1; r++) {
        double start = seconds_of(CLOCK_MONOTONIC), cpu_start = seconds_of(CLOCK_PROCESS_CPUTIME_ID);
        if (!strcmp(product, "forward"))        // y[rows,out] = x[rows,in] · w[out,in]ᵀ
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1, x, in, w, in, 0, y, out);
        else if (!strcmp(product, "dinp"))      // x[rows,in] += y[rows,out] · w[out,in]
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, in, out, 1, y, out, w, in, 1, x, in);
        else                                    // w[out,in] += y[rows,out]ᵀ · x[rows,in]
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, rows, 1, y, out, x, in, 1, w, in);
        if (r > 0) {  // the first call warms caches and OpenBLAS's buffers
            seconds[r - 1] = seconds_of(CLOCK_MONOTONIC) - start;
            cpu_seconds[r - 1] = seconds_of(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
        }
    }
    qsort(seconds, repeats, sizeof(double), compare);
    qsort(cpu_seconds, repeats, sizeof(double), compare);
    free(x); free(w); free(y);
    double flops = 2.0 * rows * in * out;
    *wall_gflops = flops / seconds[repeats / 2] / 1e9;
    *cpu_gflops = flops / (cpu_seconds[repeats / 2] / threads_used) / 1e9;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    int repeats = argc > 2 ? atoi(argv[2]) : 7;
    if (repeats < 1 || repeats > 64) repeats = 7;
    openblas_set_num_threads(threads);
    threads_used = threads;
    // rows, in, out: the four Linear layers of a GPT-2-124M block on 1024 tokens, the 128-row LM-head chunk, and 1024³.
    const int shapes[][3] = {{1024, 768, 2304}, {1024, 768, 768}, {1024, 768, 3072}, {1024, 3072, 768},
                             {128, 768, 50257}, {1024, 1024, 1024}};
    const char *products[] = {"forward", "dinp", "dweight"};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int p = 0; p < 3; p++) {
            double wall_gflops, cpu_gflops;
            measure(products[p], shapes[s][0], shapes[s][1], shapes[s][2], repeats, &wall_gflops, &cpu_gflops);
            printf("{\"library\": \"openblas-%s\", \"threads\": %d, \"product\": \"%s\", \"rows\": %d, \"in\": %d, "
                   "\"out\": %d, \"gflops\": %.2f, \"cpu_gflops\": %.2f}\n", openblas_get_corename(), threads, products[p],
                   shapes[s][0], shapes[s][1], shapes[s][2], wall_gflops, cpu_gflops);
        }
    return 0;
}
