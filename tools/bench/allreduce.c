// Baseline for dpo-dist's MPI wrapper: plain MPI_Allreduce (float, sum, in place) on MPI_COMM_WORLD, timed exactly
// as CommunicationBenchmark times `Communicator.allReduceSum`: barrier, then one all-reduce timed on rank 0 with
// MPI_Wtime; median (and min) over the repetitions after one untimed warm-up call.
//
//   mpicc -O2 -o /tmp/allreduce tools/bench/allreduce.c
//   mpirun -n 2 /tmp/allreduce [repetitions] [count ...]      (defaults: 10 repetitions; 124439808, 6553600 and 1048576 floats)
//
// Prints one line per count: `count=<floats> bytes=<bytes> median_s=<seconds> min_s=<seconds>`.
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int repetitions = argc > 1 ? atoi(argv[1]) : 10;
    // GPT-2-124M's parameter count, one 25 MiB bucket, 1M floats.
    long default_counts[] = {124439808L, 6553600L, 1048576L};
    int count_total = argc > 2 ? argc - 2 : 3;
    if (repetitions < 1) {
        if (rank == 0) fprintf(stderr, "repetitions must be at least 1\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    double *times = malloc(sizeof(double) * repetitions);
    for (int c = 0; c < count_total; c++) {
        long count = argc > 2 ? atol(argv[c + 2]) : default_counts[c];
        if (count < 1 || count > 2147483647L) {
            if (rank == 0) fprintf(stderr, "count %ld must be in 1...2147483647\n", count);
            MPI_Abort(MPI_COMM_WORLD, 2);
        }
        float *buffer = malloc(sizeof(float) * (size_t)count);
        for (long i = 0; i < count; i++) buffer[i] = 1e-3f * (float)(i % 1000);
        MPI_Allreduce(MPI_IN_PLACE, buffer, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        for (int r = 0; r < repetitions; r++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double start = MPI_Wtime();
            MPI_Allreduce(MPI_IN_PLACE, buffer, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            times[r] = MPI_Wtime() - start;
        }
        qsort(times, repetitions, sizeof(double), compare_doubles);
        double median = repetitions % 2 ? times[repetitions / 2]
                                        : 0.5 * (times[repetitions / 2 - 1] + times[repetitions / 2]);
        if (rank == 0) {
            printf("count=%ld bytes=%ld median_s=%.6f min_s=%.6f\n", count, count * 4, median, times[0]);
            fflush(stdout);
        }
        free(buffer);
    }
    free(times);
    MPI_Finalize();
    return 0;
}
