/* bench-gemm - the machine's float32 GEMM rate through lr_sgemm, for the
 * encoding benchmark to compare against: best of a few runs of square
 * and encoder-shaped products, and the median of the encoder-shaped ones
 * (the fairer figure on a shared machine).  With a third argument, also
 * the encoder-shaped product in each reduced precision the CPU runs
 * (lr_qgemm).  REPS 0: print the BLIS_ARCH_TYPE setting chosen and exit.
 * Usage: bench-gemm [THREADS [REPS [all]]] */
#include "config.h"
#include "lr.h"
#include "model/model-internal.h"

#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* best rate of reps runs; *median (nullable) gets the median */
static double rate(int m, int n, int k, bool tb, int reps, double *median)
{
    float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n);
    float *c = malloc(sizeof(float) * m * n);
    double *g = malloc(sizeof(double) * reps);
    for (long i = 0; i < (long)m * k; i++) a[i] = (float)((i * 7919) % 1000) * 1e-3f;
    for (long i = 0; i < (long)k * n; i++) b[i] = (float)((i * 104729) % 1000) * 1e-3f;
    for (int r = 0; r < reps; r++) {
        double t = lr_now();
        lr_sgemm(false, tb, m, n, k, 1.0f, a, k, b, tb ? k : n, 0.0f, c, n);
        t = lr_now() - t;
        g[r] = 2.0 * m * n * k / t * 1e-9;
    }
    qsort(g, reps, sizeof *g, cmp);
    double best = g[reps - 1];
    if (median) *median = g[reps / 2];
    free(g);
    free(a);
    free(b);
    free(c);
    return best;
}

/* the same for lr_qgemm: x [m x k] times W^T, W [n x k] */
static double qrate(lr_precision p, int m, int n, int k, int reps, double *median)
{
    float *x = malloc(sizeof(float) * m * k), *w = malloc(sizeof(float) * n * k);
    float *y = malloc(sizeof(float) * m * n);
    double *g = malloc(sizeof(double) * reps);
    for (long i = 0; i < (long)m * k; i++) x[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
    for (long i = 0; i < (long)k * n; i++) w[i] = (float)((i * 104729) % 1000) * 1e-3f - 0.5f;
    lr_tensor t = {.dtype = LR_F32, .ndim = 2, .shape = {n, k}, .data = w};
    lr_qmat *q = lr_qmat_new(p, &t);
    for (int r = 0; r < reps; r++) {
        double s = lr_now();
        lr_qgemm(q, x, m, y, 0.0f);
        s = lr_now() - s;
        g[r] = 2.0 * m * n * k / s * 1e-9;
    }
    qsort(g, reps, sizeof *g, cmp);
    double best = g[reps - 1];
    *median = g[reps / 2];
    lr_qmat_free(q);
    free(g), free(x), free(w), free(y);
    return best;
}

int main(int argc, char **argv)
{
    int threads = lr_threads_init(argc > 1 ? atoi(argv[1]) : 0);
    int reps = argc > 2 ? atoi(argv[2]) : 4;
    if (reps < 1) {
        /* the BLIS_ARCH_TYPE value chosen, for other programs on BLIS */
        lr_blas_arch();
        printf("BLIS_ARCH_TYPE=%s\n", getenv("BLIS_ARCH_TYPE") ? getenv("BLIS_ARCH_TYPE") : "");
        return 0;
    }
    double med;
    double sq = rate(2048, 2048, 2048, false, reps, NULL);
    /* the encoder's largest product: tokens x hidden times up_proj^T */
    double enc = rate(2048, 4864, 896, true, reps, &med);
    printf("gemm: %d threads, BLIS %s: square 2048: %.1f GFLOP/s, 2048x4864x896 (B^T): %.1f GFLOP/s"
           " (median %.1f)\n", threads, lr_blas_arch(), sq, enc, med);
    printf("peak %.1f\n", sq > enc ? sq : enc);
    printf("median %.1f\n", med);
    for (int p = LR_PREC_BF16; argc > 3 && p <= LR_PREC_INT8; p++) {
        if (!lr_precision_supported(p)) {
            printf("%s: not supported by this CPU\n", lr_precision_name(p));
            continue;
        }
        printf("%s: 2048x4864x896: best %.1f GOP/s", lr_precision_name(p),
               qrate(p, 2048, 4864, 896, reps, &med));
        printf(" (median %.1f)\n", med);
    }
    return 0;
}
