/* blas.c - BLIS set-up (sub-configuration, threads) and the GEMM wrapper,
 * threaded by the worker pool. */
#include "config.h"
#include "internal.h"

#include <blis.h>
#include <strings.h>
#include <unistd.h>

static int n_threads = 1;
static bool initialised;

/* BLIS 0.9 reads BLIS_ARCH_TYPE once, at its first call, as the integer
 * value of arch_t: a name reads as 0 (skx), and an id it was not built
 * with aborts inside it.  The x86-64 sub-configurations Debian's BLIS is
 * built with (the x86_64 family), with the instructions each needs. */
#if defined(__x86_64__)
static bool cpu_runs(arch_t a)
{
    __builtin_cpu_init();
    switch (a) {
    case BLIS_ARCH_SKX:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    case BLIS_ARCH_KNL:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512pf") &&
               __builtin_cpu_supports("avx512er");
    case BLIS_ARCH_HASWELL:
    case BLIS_ARCH_ZEN3:
    case BLIS_ARCH_ZEN2:
    case BLIS_ARCH_ZEN:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case BLIS_ARCH_SANDYBRIDGE: return __builtin_cpu_supports("avx");
    case BLIS_ARCH_PENRYN: return __builtin_cpu_supports("ssse3");
    case BLIS_ARCH_EXCAVATOR:
    case BLIS_ARCH_STEAMROLLER:
    case BLIS_ARCH_PILEDRIVER:
    case BLIS_ARCH_BULLDOZER:
        return __builtin_cpu_supports("fma4") && __builtin_cpu_supports("xop");
    case BLIS_ARCH_GENERIC: return true;
    default: return false;
    }
}
static const arch_t built[] = {
    BLIS_ARCH_SKX, BLIS_ARCH_KNL, BLIS_ARCH_HASWELL, BLIS_ARCH_SANDYBRIDGE, BLIS_ARCH_PENRYN,
    BLIS_ARCH_ZEN3, BLIS_ARCH_ZEN2, BLIS_ARCH_ZEN, BLIS_ARCH_EXCAVATOR, BLIS_ARCH_STEAMROLLER,
    BLIS_ARCH_PILEDRIVER, BLIS_ARCH_BULLDOZER, BLIS_ARCH_GENERIC};
#else
static bool cpu_runs(arch_t a) { return a == BLIS_ARCH_GENERIC; }
static const arch_t built[] = {BLIS_ARCH_GENERIC};
#endif

/* BLIS_ARCH_TYPE as a sub-configuration: its name (any case) or number. */
static int parse_arch(const char *v)
{
    char *end;
    long n = strtol(v, &end, 10);
    bool number = end != v && *end == 0;
    for (size_t i = 0; i < LR_ARRAY_LEN(built); i++)
        if (number ? n == (long)built[i] : strcasecmp(v, bli_arch_string(built[i])) == 0)
            return (int)built[i];
    return -1;
}

/* Debian's BLIS 0.9.0 picks its generic kernels on CPUs it does not know
 * (Zen 4/5 among them), several times slower, so choose the best
 * sub-configuration the CPU can run before touching BLIS; a user's
 * BLIS_ARCH_TYPE is checked and handed to BLIS as the number it reads. */
static void select_blis_arch(void)
{
    const char *v = getenv("BLIS_ARCH_TYPE");
    int arch = -1;
    if (v && *v) {
        arch = parse_arch(v);
        if (arch < 0) {
            char names[256] = "";
            for (size_t i = 0; i < LR_ARRAY_LEN(built); i++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                         i ? ", " : "", bli_arch_string(built[i]));
            lr_die("BLIS_ARCH_TYPE: '%.40s' is not a sub-configuration of this BLIS (%s)", v,
                   names);
        }
        if (!cpu_runs((arch_t)arch))
            lr_die("BLIS_ARCH_TYPE: this CPU lacks the instructions of BLIS's %s kernels",
                   bli_arch_string((arch_t)arch));
    } else if (cpu_runs(BLIS_ARCH_SKX)) {
        arch = BLIS_ARCH_SKX;
    } else if (cpu_runs(BLIS_ARCH_HASWELL)) {
        arch = BLIS_ARCH_HASWELL;
    }
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
    /* BLIS itself runs single-threaded: lr_sgemm shares a product out
     * among the worker pool (workers.c), whose idle threads sleep */
    bli_thread_set_num_threads(1);
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

/* One block of a product, in BLIS on the calling thread. */
static void sgemm1(bool ta, bool tb, int m, int n, int k, float alpha, const float *a, int lda,
                   const float *b, int ldb, float beta, float *c, int ldc)
{
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads(1, &rntm);
    /* row-major: row stride = ld, column stride = 1; a transposed operand
     * is described to BLIS with the flag, not by swapping strides */
    bli_sgemm_ex(ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
                 m, n, k, &alpha, (float *)a, lda, 1, (float *)b, ldb, 1, &beta, c, ldc, 1, NULL,
                 &rntm);
}

void lr_sgemm1(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float *a,
               int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    if (!initialised) lr_threads_init(0);
    if (m > 0 && n > 0) sgemm1(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* A product cut into a grid of blocks of C, one task per block. */
typedef struct gemm_job {
    bool ta, tb;
    int m, n, k, bm, bn, gn;   /* block sizes, blocks per row of the grid */
    float alpha, beta;
    const float *a, *b;
    float *c;
    int lda, ldb, ldc;
} gemm_job;

static void gemm_task(void *ctx, int task)
{
    const gemm_job *j = ctx;
    int i0 = task / j->gn * j->bm, n0 = task % j->gn * j->bn;
    int mb = LR_MIN(j->bm, j->m - i0), nb = LR_MIN(j->bn, j->n - n0);
    const float *a = j->ta ? j->a + i0 : j->a + (size_t)i0 * j->lda;
    const float *b = j->tb ? j->b + (size_t)n0 * j->ldb : j->b + n0;
    sgemm1(j->ta, j->tb, mb, nb, j->k, j->alpha, a, j->lda, b, j->ldb, j->beta,
           j->c + (size_t)i0 * j->ldc + n0, j->ldc);
}

int lr_par_grid(int m, int n, int align_m, int align_n, int min_block, int *bm, int *bn)
{
    /* about four blocks per thread, so that a thread slowed down by
     * another process costs a quarter of its share, not all of it;
     * halve the longer side of the blocks until there are enough */
    int target = lr_par_alone() ? 1 : 4 * lr_threads(), gm = 1, gn = 1;
    while (gm * gn < target) {
        int sm = (m + gm - 1) / gm, sn = (n + gn - 1) / gn;
        if (sm >= sn && sm >= 2 * min_block) gm *= 2;
        else if (sn >= 2 * min_block) gn *= 2;
        else if (sm >= 2 * min_block) gm *= 2;
        else break;
    }
    *bm = ((m + gm - 1) / gm + align_m - 1) / align_m * align_m;
    *bn = ((n + gn - 1) / gn + align_n - 1) / align_n * align_n;
    gm = (m + *bm - 1) / *bm;
    gn = (n + *bn - 1) / *bn;
    return gm * gn;
}

void lr_sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb, float beta,
              float *c, int ldc)
{
    if (!initialised) lr_threads_init(0);
    if (m <= 0 || n <= 0) return;
    gemm_job j = {trans_a, trans_b, m, n, k, m, n, 1, alpha, beta, a, b, c, lda, ldb, ldc};
    int tasks = 1;
    if (n_threads > 1 && (double)m * n * k >= 1024.0 * 1024)
        tasks = lr_par_grid(m, n, 32, 32, 128, &j.bm, &j.bn);
    if (tasks == 1) {
        sgemm1(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    j.gn = (n + j.bn - 1) / j.bn;
    lr_par_for(tasks, gemm_task, &j);
}
