/* blas.c - BLIS set-up (sub-configuration, threads) and the GEMM wrapper. */
#include "config.h"
#include "internal.h"

#include <blis.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static int n_threads = 1;
static bool initialised;

/* Debian's BLIS 0.9.0 picks its generic kernels on CPUs it does not know
 * (Zen 4/5 among them), several times slower.  BLIS reads BLIS_ARCH_TYPE
 * once, at its first call, as the integer value of arch_t, so choose the
 * best sub-configuration the CPU can run before touching BLIS. */
static void select_blis_arch(void)
{
    if (getenv("BLIS_ARCH_TYPE")) return;   /* the user's choice wins */
    int arch = -1;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        arch = BLIS_ARCH_SKX;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        arch = BLIS_ARCH_HASWELL;
    if (arch >= 0) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", arch);
        setenv("BLIS_ARCH_TYPE", buf, 1);
    }
}

int lr_threads_init(int n)
{
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    if (!initialised) select_blis_arch();
    initialised = true;
    n_threads = n;
    bli_thread_set_num_threads(n);
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    return n;
}

int lr_threads(void)
{
    if (!initialised) lr_threads_init(0);
    return n_threads;
}

const char *lr_blas_arch(void)
{
    if (!initialised) lr_threads_init(0);
    return bli_arch_string(bli_arch_query_id());
}

void lr_sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb, float beta,
              float *c, int ldc)
{
    if (!initialised) lr_threads_init(0);
    if (m <= 0 || n <= 0) return;
    /* row-major: row stride = ld, column stride = 1; a transposed operand
     * is described to BLIS with the flag, not by swapping strides */
    bli_sgemm(trans_a ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
              trans_b ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
              m, n, k, &alpha, (float *)a, lda, 1, (float *)b, ldb, 1, &beta, c, ldc, 1);
}
