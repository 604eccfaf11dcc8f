/* qgemm.c - reduced-precision projections: y = x W^T for inference,
 * and bf16 products of any two fp32 matrices for training.
 *
 * Weights are converted once, at load, into panels of NR = 32 output
 * channels: bf16 pairs for vdpbf16ps (AVX512-BF16: products of bf16
 * pairs summed into fp32), or int8 quadruples with one fp32 scale per
 * output channel for vpdpbusd (AVX512-VNNI: products of unsigned by
 * signed bytes summed into int32).  Activations are converted per call:
 * bf16 with round-to-nearest-even, or int8 with one scale per token
 * (dynamic, max |x| / 127).  vpdpbusd multiplies unsigned bytes, so the
 * int8 activations q in [-127, 127] are stored as q + 128 and the
 * excess 128 * sum_k w[n][k] is taken off each output channel.
 *
 * The activations are packed in blocks of MR = 12 tokens, k-step-major
 * (a k-step is a pair of bf16 or a quadruple of bytes, one 32-bit word),
 * so that the micro-kernel's 12 x 32 tile reads one stream of broadcasts
 * and one stream of weight vectors.  Blocks of the output go to the
 * worker pool; within a block the k dimension is cut so that one weight
 * micro-panel (32 channels x KSTEPS words) stays in L1.
 *
 * Training's bf16 products (lr_bgemm) run on the same micro-kernel and
 * blocks, but pack both sides per call: the weights change every step,
 * and the weight gradient dW = dY^T X has activations on both sides. */
#include "config.h"
#include "model/model-internal.h"

#include <math.h>
#include <stdint.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#define LR_HAVE_X86 1
#endif

enum { MR = 12, NR = 32, KSTEPS = 192, MC = 20 * MR };

struct lr_qmat {
    lr_precision prec;   /* LR_PREC_BF16 or LR_PREC_INT8 */
    int out, in;
    int ks;              /* k-steps: in / 2 (bf16) or in / 4 (int8), rounded up */
    int np;              /* panels of NR channels */
    uint32_t *w;         /* [np][ks][NR] words */
    float *scale;        /* int8: [np * NR] per-channel scales (0 on padding) */
    int32_t *excess;     /* int8: [np * NR] 128 * sum_k w[n][k] */
};

static int per_word(lr_precision p) { return p == LR_PREC_BF16 ? 2 : 4; }

/* ------------------------------------------------------------------ */
/* CPU features and the choice of `fast` */

bool lr_precision_supported(lr_precision p)
{
#ifdef LR_HAVE_X86
    __builtin_cpu_init();
    bool base = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    switch (p) {
    case LR_PREC_F32: return true;
    case LR_PREC_BF16: return base && __builtin_cpu_supports("avx512bf16");
    case LR_PREC_INT8: return base && __builtin_cpu_supports("avx512vnni");
    default: return false;
    }
#else
    return p == LR_PREC_F32;
#endif
}

static const char *const prec_names[] = {"f32", "bf16", "int8", "fast"};

const char *lr_precision_name(lr_precision p)
{
    return lr_name_at(prec_names, LR_ARRAY_LEN(prec_names), p);
}

int lr_precision_parse(const char *s, lr_precision *p)
{
    int i = lr_name_index(prec_names, LR_ARRAY_LEN(prec_names), s);
    if (i < 0) return -1;
    *p = (lr_precision)i;
    return 0;
}

/* `fast`, from the CPU's features.  Measured rates (GOP/s, one core):
 *
 *   CPU (features)                         fp32   bf16   int8
 *   AMD Zen 5 (BF16, VNNI), register-only   1      2.3    4.9  (relative)
 *   AMD Zen 5, 2048x4864x896 product here   35     60     105  (busy machine)
 *   Intel Emerald Rapids (BF16, VNNI,
 *     FP16), register-only                  165    82     444
 *
 * int8 wins wherever VNNI is present; bf16 is half the fp32 rate on the
 * Intel part, so it is chosen only where VNNI is absent and BF16 is not
 * known to be slow (AVX512-FP16 marks the Intel cores measured). */
#ifdef LR_HAVE_X86
/* AVX512-FP16 (cpuid leaf 7, EDX bit 23), read directly: clang 14's
 * __builtin_cpu_supports does not know the name. */
static bool cpu_has_avx512fp16(void)
{
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (d & (1u << 23));
}
#endif

bool lr_precision_bf16_fast(void)
{
#ifdef LR_HAVE_X86
    return lr_precision_supported(LR_PREC_BF16) && !cpu_has_avx512fp16();
#else
    return false;
#endif
}

static lr_precision fast_choice(void)
{
    if (lr_precision_supported(LR_PREC_INT8)) return LR_PREC_INT8;
    return lr_precision_bf16_fast() ? LR_PREC_BF16 : LR_PREC_F32;
}

int lr_precision_resolve(lr_precision p, lr_precision *out, lr_error *err)
{
    if (p == LR_PREC_FAST) p = fast_choice();
    if (!lr_precision_supported(p))
        return lr_errorf(err, "precision %s: this CPU lacks the AVX-512 %s instructions",
                         lr_precision_name(p), p == LR_PREC_BF16 ? "BF16" : "VNNI");
    *out = p;
    return 0;
}

/* ------------------------------------------------------------------ */
/* conversions (plain C, vectorised by the compiler) */

static inline uint16_t bf16_round(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t nan = (u >> 16) | 0x40, r = (u + 0x7fffu + ((u >> 16) & 1)) >> 16;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? nan : r);   /* NaN stays NaN; a select, so loops vectorise */
}

/* max |x| over n */
LR_CLONES static float absmax(const float *x, int n)
{
    float m = 0;
#pragma omp simd reduction(max : m)
    for (int i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        m = a > m ? a : m;
    }
    return m;
}

/* One row as the bytes of its k-step words: bf16 pairs, or int8
 * quadruples + 128, with the row's scale returned.  k past in is zero. */
LR_CLONES static float row_words(lr_precision p, const float *x, int in, int ks, void *out)
{
    if (p == LR_PREC_BF16) {
        uint16_t *h = out;
#pragma omp simd
        for (int k = 0; k < in; k++) h[k] = bf16_round(x[k]);
        for (int k = in; k < 2 * ks; k++) h[k] = 0;
        return 0;
    }
    float mx = absmax(x, in), inv = mx > 0 ? 127.0f / mx : 0;
    uint8_t *u = out;
#pragma omp simd
    for (int k = 0; k < in; k++) {
        float v = x[k] * inv;   /* |v| <= 127 */
        u[k] = (uint8_t)((int)(v + (v >= 0 ? 0.5f : -0.5f)) + 128);
    }
    for (int k = in; k < 4 * ks; k++) u[k] = 128;
    return mx / 127.0f;
}

/* Pack rows [r0, r0 + MR) of x [T x in] (rows past T are zero) into
 * block dst [ks][MR] words; int8: scales of the rows in sa.  tmp: ks words. */
static void pack_act_block(lr_precision p, const float *x, int T, int in, int ks, int r0,
                           uint32_t *dst, float *sa, unsigned char *tmp)
{
    for (int r = 0; r < MR; r++) {
        int t = r0 + r;
        if (t < T) {
            float s = row_words(p, x + (size_t)t * in, in, ks, tmp);
            if (sa) sa[t] = s;
        } else {
            memset(tmp, p == LR_PREC_BF16 ? 0 : 128, (size_t)ks * 4);
        }
        for (int j = 0; j < ks; j++) memcpy(&dst[(size_t)j * MR + r], tmp + 4 * (size_t)j, 4);
    }
}

/* ------------------------------------------------------------------ */
/* weights */

typedef struct pack_w_job {
    lr_qmat *q;
    const lr_tensor *t;
} pack_w_job;

static void pack_w_panel(void *ctx, int p)
{
    const pack_w_job *j = ctx;
    lr_qmat *q = j->q;
    const int in = q->in, pw = per_word(q->prec);
    const size_t es = lr_dtype_size(j->t->dtype);
    float *row = lr_xmalloc((size_t)in * sizeof(float));
    uint32_t *dst = q->w + (size_t)p * q->ks * NR;
    for (int c = 0; c < NR; c++) {
        int n = p * NR + c;
        if (n >= q->out) {
            for (int s = 0; s < q->ks; s++) dst[(size_t)s * NR + c] = 0;
            continue;
        }
        lr_to_f32(j->t->dtype, (const char *)j->t->data + (size_t)n * in * es, row, in);
        if (q->prec == LR_PREC_BF16) {
            for (int s = 0; s < q->ks; s++) {
                uint32_t lo = 2 * s < in ? bf16_round(row[2 * s]) : 0;
                uint32_t hi = 2 * s + 1 < in ? bf16_round(row[2 * s + 1]) : 0;
                dst[(size_t)s * NR + c] = lo | hi << 16;
            }
        } else {
            float mx = absmax(row, in), inv = mx > 0 ? 127.0f / mx : 0;
            int64_t sum = 0;
            for (int s = 0; s < q->ks; s++) {
                uint32_t word = 0;
                for (int e = 0; e < pw; e++) {
                    int k = s * pw + e, v = 0;
                    if (k < in) {
                        v = (int)lrintf(row[k] * inv);
                        v = v > 127 ? 127 : v < -127 ? -127 : v;
                    }
                    sum += v;
                    word |= (uint32_t)(uint8_t)(int8_t)v << (8 * e);
                }
                dst[(size_t)s * NR + c] = word;
            }
            q->scale[n] = mx / 127.0f;
            q->excess[n] = (int32_t)(128 * sum);
        }
    }
    free(row);
}

lr_qmat *lr_qmat_new(lr_precision p, const lr_tensor *t)
{
    lr_qmat *q = lr_xcalloc(1, sizeof *q);
    q->prec = p;
    q->out = (int)t->shape[0];
    q->in = (int)t->shape[1];
    q->ks = (q->in + per_word(p) - 1) / per_word(p);
    q->np = (q->out + NR - 1) / NR;
    q->w = lr_xmalloc((size_t)q->np * q->ks * NR * sizeof(uint32_t));
    if (p == LR_PREC_INT8) {
        q->scale = lr_xcalloc((size_t)q->np * NR, sizeof(float));
        q->excess = lr_xcalloc((size_t)q->np * NR, sizeof(int32_t));
    }
    pack_w_job j = {q, t};
    lr_par_for(q->np, pack_w_panel, &j);
    return q;
}

void lr_qmat_free(lr_qmat *q)
{
    if (!q) return;
    free(q->w);
    free(q->scale);
    free(q->excess);
    free(q);
}

size_t lr_qmat_bytes(const lr_qmat *q)
{
    size_t b = (size_t)q->np * q->ks * NR * sizeof(uint32_t);
    if (q->scale) b += (size_t)q->np * NR * (sizeof(float) + sizeof(int32_t));
    return b;
}

/* ------------------------------------------------------------------ */
/* micro-kernels: C[mr x nc] (+)= A block x B panel over `steps` k-steps */

#ifdef LR_HAVE_X86
#define TARGET_BF16 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")))
#define TARGET_VNNI __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))

/* beta: 0 overwrites C, 1 adds to it */
TARGET_BF16 static void kern_bf16(int steps, const uint32_t *a, const uint32_t *b, float *c,
                                  size_t ldc, int mr, int nc, bool add)
{
    __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) acc0[r] = acc1[r] = _mm512_setzero_ps();
    for (int j = 0; j < steps; j++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + (size_t)j * NR);
        __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + (size_t)j * NR + 16);
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++) {
            __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[(size_t)j * MR + r]);
            acc0[r] = _mm512_dpbf16_ps(acc0[r], av, b0);
            acc1[r] = _mm512_dpbf16_ps(acc1[r], av, b1);
        }
    }
    __mmask16 m0 = nc >= 16 ? 0xffff : (__mmask16)((1u << nc) - 1);
    __mmask16 m1 = nc >= 32 ? 0xffff : nc <= 16 ? 0 : (__mmask16)((1u << (nc - 16)) - 1);
    /* a constant trip count keeps the accumulators in registers */
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) {
        if (r >= mr) break;
        float *cr = c + (size_t)r * ldc;
        __m512 v0 = acc0[r], v1 = acc1[r];
        if (add) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, cr));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, cr + 16));
        }
        _mm512_mask_storeu_ps(cr, m0, v0);
        _mm512_mask_storeu_ps(cr + 16, m1, v1);
    }
}

/* int8: C (+)= sa[r] * sw[n] * (acc - excess[n]) (excess only on the
 * first k block, where `add` may be false) */
TARGET_VNNI static void kern_int8(int steps, const uint32_t *a, const uint32_t *b, float *c,
                                  size_t ldc, int mr, int nc, bool add, const float *sa,
                                  const float *sw, const int32_t *excess)
{
    __m512i acc0[MR], acc1[MR];
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) acc0[r] = acc1[r] = _mm512_setzero_si512();
    for (int j = 0; j < steps; j++) {
        __m512i b0 = _mm512_loadu_si512(b + (size_t)j * NR);
        __m512i b1 = _mm512_loadu_si512(b + (size_t)j * NR + 16);
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++) {
            __m512i av = _mm512_set1_epi32((int)a[(size_t)j * MR + r]);
            acc0[r] = _mm512_dpbusd_epi32(acc0[r], av, b0);
            acc1[r] = _mm512_dpbusd_epi32(acc1[r], av, b1);
        }
    }
    __mmask16 m0 = nc >= 16 ? 0xffff : (__mmask16)((1u << nc) - 1);
    __mmask16 m1 = nc >= 32 ? 0xffff : nc <= 16 ? 0 : (__mmask16)((1u << (nc - 16)) - 1);
    __m512 w0 = _mm512_loadu_ps(sw), w1 = _mm512_loadu_ps(sw + 16);
    __m512i e0 = _mm512_setzero_si512(), e1 = e0;
    if (excess) {
        e0 = _mm512_loadu_si512(excess);
        e1 = _mm512_loadu_si512(excess + 16);
    }
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) {
        if (r >= mr) break;
        float *cr = c + (size_t)r * ldc;
        __m512 s = _mm512_set1_ps(sa[r]);
        __m512 v0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc0[r], e0)), _mm512_mul_ps(s, w0));
        __m512 v1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc1[r], e1)), _mm512_mul_ps(s, w1));
        if (add) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, cr));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, cr + 16));
        }
        _mm512_mask_storeu_ps(cr, m0, v0);
        _mm512_mask_storeu_ps(cr + 16, m1, v1);
    }
}
#endif

/* ------------------------------------------------------------------ */
/* the product */

typedef struct qgemm_job {
    lr_precision prec;
    const lr_qmat *q;    /* lr_qgemm: the weights (int8 scales and excess) */
    const float *x;
    const uint32_t *a;   /* packed left side [ceil(T / MR)][ks][MR] */
    uint32_t *a_out;     /* packing: destination */
    const uint32_t *w;   /* packed right side [np][ks][NR] */
    float *sa;           /* int8: per-token scales [T] */
    float *y;
    size_t ldy;
    int T, n, ks, np, bm, bn, gn;
    bool add;
} qgemm_job;

static void pack_task(void *ctx, int rb)
{
    qgemm_job *j = ctx;
    unsigned char *tmp = lr_xmalloc((size_t)j->q->ks * 4);
    pack_act_block(j->q->prec, j->x, j->T, j->q->in, j->q->ks, rb * MR,
                   j->a_out + (size_t)rb * j->q->ks * MR, j->sa, tmp);
    free(tmp);
}

static void block_task(void *ctx, int task)
{
#ifdef LR_HAVE_X86
    const qgemm_job *j = ctx;
    const lr_qmat *q = j->q;
    const int i0 = task / j->gn * j->bm, i1 = LR_MIN(j->T, i0 + j->bm);
    const int p0 = task % j->gn * j->bn / NR, p1 = LR_MIN(j->np, p0 + j->bn / NR);
    const int ks = j->ks, out = j->n;
    /* k blocks of equal length, at most KSTEPS */
    const int kb = (ks + KSTEPS - 1) / KSTEPS, kstep = (ks + kb - 1) / kb;
    for (int c0 = i0; c0 < i1; c0 += MC)
    for (int s0 = 0; s0 < ks; s0 += kstep) {
        const int steps = LR_MIN(kstep, ks - s0), c1 = LR_MIN(i1, c0 + MC);
        const bool first = s0 == 0, add = !first || j->add;
        for (int p = p0; p < p1; p++) {
            const uint32_t *b = j->w + ((size_t)p * ks + s0) * NR;
            const int n0 = p * NR, nc = LR_MIN(NR, out - n0);
            for (int r0 = c0; r0 < c1; r0 += MR) {
                const uint32_t *a = j->a + ((size_t)(r0 / MR) * ks + s0) * MR;
                float *c = j->y + (size_t)r0 * j->ldy + n0;
                const int mr = LR_MIN(MR, c1 - r0);
                if (j->prec == LR_PREC_BF16)
                    kern_bf16(steps, a, b, c, j->ldy, mr, nc, add);
                else
                    kern_int8(steps, a, b, c, j->ldy, mr, nc, add, j->sa + r0, q->scale + n0,
                              first ? q->excess + n0 : NULL);
            }
        }
    }
#else
    (void)ctx;
    (void)task;
#endif
}

/* The blocks of y [T x n] over the pool (one task when the product is
 * small). */
static void run_blocks(qgemm_job *j, int k)
{
    int tasks = 1;
    j->bm = j->T;
    j->bn = j->np * NR;
    if ((double)j->T * k * j->n >= 1024.0 * 1024)
        tasks = lr_par_grid(j->T, j->n, 4 * MR, NR, 4 * NR, &j->bm, &j->bn);
    j->gn = (j->n + j->bn - 1) / j->bn;
    lr_par_for(tasks, block_task, j);
}

void lr_qgemm(const lr_qmat *q, const float *x, int T, float *y, float beta)
{
    if (T <= 0) return;
    const int nb = (T + MR - 1) / MR;
    size_t words = (size_t)nb * q->ks * MR;
    qgemm_job j = {.prec = q->prec, .q = q, .x = x, .T = T, .y = y, .ldy = (size_t)q->out,
                   .w = q->w, .n = q->out, .ks = q->ks, .np = q->np, .add = beta != 0};
    j.a_out = lr_xmalloc(words * sizeof(uint32_t));
    j.a = j.a_out;
    if (q->prec == LR_PREC_INT8) j.sa = lr_xmalloc((size_t)T * sizeof(float));
    if ((double)T * q->in >= 65536)
        lr_par_for(nb, pack_task, &j);
    else
        for (int rb = 0; rb < nb; rb++) pack_task(&j, rb);
    run_blocks(&j, q->in);
    free(j.a_out);
    free(j.sa);
}

/* ------------------------------------------------------------------ */
/* bf16 products of fp32 matrices, both sides packed per call (training:
 * the weights change every step) */

typedef struct bpack_job {
    const float *src;
    size_t ld;
    bool trans;          /* element (i, p) at src[p * ld + i], else src[i * ld + p] */
    int rows, k, ks, width;   /* width: MR (left side) or NR (right side) */
    int nb, spt;         /* blocks of `width` rows; k-steps per task (trans) */
    uint32_t *dst;       /* [nb][ks][width] */
} bpack_job;

/* bf16 pairs (lo[i], hi[i]) as words, hi NULL for zeros */
LR_CLONES static void pair_words(uint32_t *d, const float *lo, const float *hi, int n)
{
    if (!hi) {
#pragma omp simd
        for (int i = 0; i < n; i++) d[i] = bf16_round(lo[i]);
        return;
    }
#pragma omp simd
    for (int i = 0; i < n; i++) d[i] = bf16_round(lo[i]) | (uint32_t)bf16_round(hi[i]) << 16;
}

/* one row's consecutive pairs as words; a last odd element pairs with 0 */
LR_CLONES static void row_pairs(uint32_t *d, const float *x, int k)
{
    const int pairs = k / 2;
#pragma omp simd
    for (int s = 0; s < pairs; s++) d[s] = bf16_round(x[2 * s]) | (uint32_t)bf16_round(x[2 * s + 1]) << 16;
    if (k & 1) d[pairs] = bf16_round(x[k - 1]);
}

/* Operand stored the other way round (trans): k-steps [s0, s1) of every
 * block.  Each source row is read once, converted in one pass, and
 * dealt out in runs of `width` words. */
static void bpack_steps(void *ctx, int task)
{
    const bpack_job *j = ctx;
    const int w = j->width, ks = j->ks, s0 = task * j->spt, s1 = LR_MIN(ks, s0 + j->spt);
    uint32_t *tmp = lr_xmalloc((size_t)j->nb * w * sizeof(uint32_t));
    memset(tmp + j->rows, 0, (size_t)(j->nb * w - j->rows) * sizeof(uint32_t));
    for (int s = s0; s < s1; s++) {
        const float *lo = j->src + (size_t)(2 * s) * j->ld;
        pair_words(tmp, lo, 2 * s + 1 < j->k ? lo + j->ld : NULL, j->rows);
        for (int b = 0; b < j->nb; b++)
            memcpy(j->dst + ((size_t)b * ks + s) * w, tmp + (size_t)b * w, (size_t)w * sizeof(uint32_t));
    }
    free(tmp);
}

/* Operand stored row by row: block `blk`, each row converted, then
 * written down its column of the block. */
static void bpack_rows(void *ctx, int blk)
{
    const bpack_job *j = ctx;
    const int w = j->width, i0 = blk * w, nr = LR_MIN(w, j->rows - i0), ks = j->ks;
    uint32_t *d = j->dst + (size_t)blk * ks * w;
    uint32_t *tmp = lr_xmalloc((size_t)ks * sizeof(uint32_t));
    for (int r = 0; r < w; r++) {
        if (r < nr)
            row_pairs(tmp, j->src + (size_t)(i0 + r) * j->ld, j->k);
        else
            memset(tmp, 0, (size_t)ks * sizeof(uint32_t));
        for (int s = 0; s < ks; s++) d[(size_t)s * w + r] = tmp[s];
    }
    free(tmp);
}

static uint32_t *bpack(const float *src, size_t ld, bool trans, int rows, int k, int width)
{
    bpack_job j = {src, ld, trans, rows, k, (k + 1) / 2, width, (rows + width - 1) / width, 0, NULL};
    j.dst = lr_xmalloc((size_t)j.nb * j.ks * width * sizeof(uint32_t));
    const bool par = (double)rows * k >= 65536;
    if (trans) {
        int tasks = par ? LR_MIN(j.ks, 4 * lr_threads()) : 1;
        j.spt = (j.ks + tasks - 1) / tasks;
        tasks = (j.ks + j.spt - 1) / j.spt;
        lr_par_for(tasks, bpack_steps, &j);
    } else if (par) {
        lr_par_for(j.nb, bpack_rows, &j);
    } else {
        for (int b = 0; b < j.nb; b++) bpack_rows(&j, b);
    }
    return j.dst;
}

void lr_bgemm(bool trans_a, bool trans_b, int m, int n, int k, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc)
{
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        if (beta == 0)
            for (int i = 0; i < m; i++) memset(c + (size_t)i * ldc, 0, (size_t)n * sizeof(float));
        return;
    }
    /* the left side as MR-row blocks of A's rows; the right side as
     * NR-channel panels of B's columns (rows of B^T) */
    qgemm_job j = {.prec = LR_PREC_BF16, .T = m, .n = n, .ks = (k + 1) / 2,
                   .np = (n + NR - 1) / NR, .y = c, .ldy = (size_t)ldc, .add = beta != 0};
    uint32_t *pa = bpack(a, (size_t)lda, trans_a, m, k, MR);
    uint32_t *pb = bpack(b, (size_t)ldb, !trans_b, n, k, NR);
    j.a = pa;
    j.w = pb;
    run_blocks(&j, k);
    free(pa);
    free(pb);
}
