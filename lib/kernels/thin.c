/* thin.c - products with one thin side (a few columns, as a LoRA
 * adapter's rank), for which a packed GEMM spends more time copying the
 * wide operand than multiplying: each row of the wide operand is read
 * once, from memory, and the thin one stays in cache.
 *
 * Thin matrices are row-major with a padded width rp, a multiple of
 * LR_THIN_W, their padding columns zero. */
#include "config.h"
#include "internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define HAVE_X86 1
#endif

#define W LR_THIN_W
#define ROWS 8   /* rows of the wide operand per register block in thin_mm */
#define SLAB 256 /* rows of the wide operand per pass in thin_tmm */

/* C[t0..t1) x [c, c+W) = X[t0..t1) M[., c..c+W) */
static void thin_mm_block_c(int t0, int t1, int n, const float *x, int ldx, const float *m,
                            int rp, int c, float *out)
{
    int t = t0;
    for (; t + ROWS <= t1; t += ROWS) {
        float acc[ROWS][W] = {{0}};
        for (int i = 0; i < n; i++) {
            const float *mi = m + (size_t)i * rp + c;
            for (int j = 0; j < ROWS; j++) {
                const float xv = x[(size_t)(t + j) * ldx + i];
#pragma omp simd
                for (int k = 0; k < W; k++) acc[j][k] += xv * mi[k];
            }
        }
        for (int j = 0; j < ROWS; j++)
            for (int k = 0; k < W; k++) out[(size_t)(t + j) * rp + c + k] = acc[j][k];
    }
    for (; t < t1; t++) {
        float acc[W] = {0};
        for (int i = 0; i < n; i++) {
            const float xv = x[(size_t)t * ldx + i];
            const float *mi = m + (size_t)i * rp + c;
#pragma omp simd
            for (int k = 0; k < W; k++) acc[k] += xv * mi[k];
        }
        for (int k = 0; k < W; k++) out[(size_t)t * rp + c + k] = acc[k];
    }
}

/* G[i0..i0+W) x [c, c+W) += X[., i0..i0+W)^T Y[., c..c+W), over all T rows;
 * the columns past n are left alone */
static void thin_tmm_block_c(int T, int n, int i0, const float *x, int ldx, const float *y,
                             int rp, int c, float *g)
{
    float acc[W][W] = {{0}};
    const int ni = LR_MIN(W, n - i0);
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * ldx + i0, *yt = y + (size_t)t * rp + c;
        for (int j = 0; j < ni; j++) {
            const float xv = xt[j];
#pragma omp simd
            for (int k = 0; k < W; k++) acc[j][k] += xv * yt[k];
        }
    }
    for (int j = 0; j < ni; j++)
        for (int k = 0; k < W; k++) g[(size_t)(i0 + j) * rp + c + k] += acc[j][k];
}

#ifdef HAVE_X86
/* The same blocks with AVX-512 registers as the accumulators (GCC keeps
 * the portable ones' arrays in memory). */
#define TARGET_512 __attribute__((target("avx512f")))
TARGET_512 static void thin_mm_block_512(int t0, int t1, int n, const float *x, int ldx,
                                         const float *m, int rp, int c, float *out)
{
    int t = t0;
    for (; t + ROWS <= t1; t += ROWS) {
        __m512 acc[ROWS];
#pragma GCC unroll 8
        for (int j = 0; j < ROWS; j++) acc[j] = _mm512_setzero_ps();
        const float *xt = x + (size_t)t * ldx;
        for (int i = 0; i < n; i++) {
            const __m512 mi = _mm512_loadu_ps(m + (size_t)i * rp + c);
#pragma GCC unroll 8
            for (int j = 0; j < ROWS; j++)
                acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(xt[(size_t)j * ldx + i]), mi, acc[j]);
        }
#pragma GCC unroll 8
        for (int j = 0; j < ROWS; j++) _mm512_storeu_ps(out + (size_t)(t + j) * rp + c, acc[j]);
    }
    if (t < t1) thin_mm_block_c(t, t1, n, x, ldx, m, rp, c, out);
}

TARGET_512 static void thin_tmm_block_512(int T, int n, int i0, const float *x, int ldx,
                                          const float *y, int rp, int c, float *g)
{
    if (n - i0 < W) {
        thin_tmm_block_c(T, n, i0, x, ldx, y, rp, c, g);
        return;
    }
    __m512 acc[W];
#pragma GCC unroll 16
    for (int j = 0; j < W; j++) acc[j] = _mm512_setzero_ps();
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * ldx + i0;
        const __m512 yt = _mm512_loadu_ps(y + (size_t)t * rp + c);
#pragma GCC unroll 16
        for (int j = 0; j < W; j++) acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(xt[j]), yt, acc[j]);
    }
#pragma GCC unroll 16
    for (int j = 0; j < W; j++) {
        float *gj = g + (size_t)(i0 + j) * rp + c;
        _mm512_storeu_ps(gj, _mm512_add_ps(_mm512_loadu_ps(gj), acc[j]));
    }
}

static bool portable;

static bool use_512(void)
{
    static int have = -1;
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("avx512f");
    }
    return have && !portable;
}
#define thin_mm_block(...) (use_512() ? thin_mm_block_512(__VA_ARGS__) : thin_mm_block_c(__VA_ARGS__))
#define thin_tmm_block(...) (use_512() ? thin_tmm_block_512(__VA_ARGS__) : thin_tmm_block_c(__VA_ARGS__))
#else
static bool portable;
#define thin_mm_block thin_mm_block_c
#define thin_tmm_block thin_tmm_block_c
#endif

void lr_thin_portable(bool on) { portable = on; }

typedef struct {
    int T, n, ldx, rp, tasks;
    const float *x, *m;
    float *out;
} thin_job;

static void thin_mm_task(void *ctx, int task)
{
    const thin_job *j = ctx;
    /* row ranges in multiples of ROWS */
    const int blocks = (j->T + ROWS - 1) / ROWS;
    const int t0 = LR_MIN(j->T, blocks * task / j->tasks * ROWS);
    const int t1 = LR_MIN(j->T, blocks * (task + 1) / j->tasks * ROWS);
    for (int c = 0; c < j->rp; c += W) thin_mm_block(t0, t1, j->n, j->x, j->ldx, j->m, j->rp, c, j->out);
}

static void thin_tmm_task(void *ctx, int task)
{
    const thin_job *j = ctx;
    const int tiles = (j->n + W - 1) / W;
    /* rows in slabs, so that a pass down a column tile stays within a
     * few pages (a pass over all T rows of a wide X misses the TLB) */
    for (int t0 = 0; t0 < j->T; t0 += SLAB) {
        const int nt = LR_MIN(SLAB, j->T - t0);
        const float *x = j->x + (size_t)t0 * j->ldx, *y = j->m + (size_t)t0 * j->rp;
        for (int s = tiles * task / j->tasks; s < tiles * (task + 1) / j->tasks; s++)
            for (int c = 0; c < j->rp; c += W) thin_tmm_block(nt, j->n, s * W, x, j->ldx, y, j->rp, c, j->out);
    }
}

/* Both products run as four tasks a thread, so that a thread slowed by
 * another process on its core leaves its share to the others. */
void lr_thin_mm(int T, int n, const float *x, int ldx, const float *m, int rp, float *out)
{
    thin_job j = {T, n, ldx, rp, LR_MAX(1, LR_MIN(4 * lr_threads(), (T + ROWS - 1) / ROWS)), x, m, out};
    lr_par_for(j.tasks, thin_mm_task, &j);
}

void lr_thin_tmm(int T, int n, const float *x, int ldx, const float *y, int rp, float *g)
{
    const int tiles = (n + W - 1) / W;
    thin_job j = {T, n, ldx, rp, LR_MAX(1, LR_MIN(4 * lr_threads(), tiles)), x, y, g};
    lr_par_for(j.tasks, thin_tmm_task, &j);
}
