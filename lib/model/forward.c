/* forward.c - the decoder's operations over packed sequences, each
 * forward beside its backward (RMSNorm, projections and biases, RoPE,
 * causal GQA attention, q/k head norms, SwiGLU), and the two passes over
 * the layers: the forward (with or without a cache) and the backward
 * from the cache.  Float32, BLIS GEMMs for every projection (or, at a
 * reduced precision, qgemm.c's kernels) and for attention over long
 * sequences, the worker pool's range loops for the fused elementwise
 * work (each loop a context struct and a function over a range). */
#include "config.h"
#include "model/model-internal.h"

#include <math.h>

/* Row-major C = alpha op(A) op(B) + beta C (lr_sgemm runs small
 * products on one thread). */
#define gemm lr_sgemm

/* ------------------------------------------------------------------ */
/* row kernels */

LR_CLONES static float sumsq(const float *x, int n)
{
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++) s += x[i] * x[i];
    return s;
}

LR_CLONES static void scale_mul(float *y, const float *x, const float *w, float r, int n)
{
#pragma omp simd
    for (int i = 0; i < n; i++) y[i] = x[i] * r * w[i];
}

static float rms_row(float *y, const float *x, const float *w, int n, float eps)
{
    float r = 1.0f / sqrtf(sumsq(x, n) / n + eps);
    scale_mul(y, x, w, r, n);
    return r;
}

/* dx (= or +=) RMSNorm backward of one row; gw_row += dy * xhat */
LR_CLONES static void rms_bwd_row(float *dx, bool acc, const float *dy, const float *x, float r,
                               const float *w, float *gw_row, int n)
{
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++) s += dy[i] * w[i] * x[i];
    const float c = s * r * r * r / n;
    if (acc) {
#pragma omp simd
        for (int i = 0; i < n; i++) dx[i] += r * dy[i] * w[i] - c * x[i];
    } else {
#pragma omp simd
        for (int i = 0; i < n; i++) dx[i] = r * dy[i] * w[i] - c * x[i];
    }
    if (gw_row) {
#pragma omp simd
        for (int i = 0; i < n; i++) gw_row[i] += dy[i] * x[i] * r;
    }
}

LR_CLONES static void rope_row(float *x, const float *cs, const float *sn, int half, float sign)
{
    float *a = x, *b = x + half;
#pragma omp simd
    for (int i = 0; i < half; i++) {
        float x1 = a[i], x2 = b[i], s = sign * sn[i];
        a[i] = x1 * cs[i] - x2 * s;
        b[i] = x2 * cs[i] + x1 * s;
    }
}

LR_CLONES static void swiglu_row(float *act, const float *g, const float *u, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float x = g[i];
        act[i] = x / (1.0f + lr_expf(-x)) * u[i];
    }
}

LR_CLONES static void swiglu_bwd_row(float *dg, float *du, const float *da, const float *g,
                                  const float *u, int n)
{
#pragma omp simd
    for (int i = 0; i < n; i++) {
        float x = g[i], sg = 1.0f / (1.0f + lr_expf(-x));
        float d = da[i];
        du[i] = d * x * sg;
        dg[i] = d * u[i] * sg * (1.0f + x * (1.0f - sg));
    }
}

LR_CLONES static void add_row(float *y, const float *x, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

LR_CLONES static float dot_row(const float *a, const float *b, int n)
{
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

LR_CLONES static void axpy_row(float *y, float a, const float *x, int n)
{
#pragma omp simd
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

/* The clones stay static: GCC exports a cloned function's dispatcher
 * whatever its visibility, and only lr.h may be exported. */
float lr_dotf(const float *a, const float *b, int n) { return dot_row(a, b, n); }
void lr_axpyf(float *y, float a, const float *x, int n) { axpy_row(y, a, x, n); }

/* In-place softmax of s[0..n) (already scaled); returns log-sum-exp. */
LR_CLONES static float softmax_row(float *s, int n)
{
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < n; j++) mx = s[j] > mx ? s[j] : mx;
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < n; j++) {
        float e = lr_expf(s[j] - mx);
        s[j] = e;
        sum += e;
    }
    float inv = 1.0f / sum;
#pragma omp simd
    for (int j = 0; j < n; j++) s[j] *= inv;
    return mx + logf(sum);
}

/* P[j] = exp(scale * q.k_j - lse) */
LR_CLONES static void probs_row(float *p, const float *q, const float *k, int ldk, int n, int hd,
                                float scale, float lse)
{
    for (int j = 0; j < n; j++) p[j] = scale * lr_dotf(q, k + (size_t)j * ldk, hd) - lse;
#pragma omp simd
    for (int j = 0; j < n; j++) p[j] = lr_expf(p[j]);
}

/* Per-channel sums of |a| and a^2 over rows [0, T) of columns [c0, c1). */
LR_CLONES static void act_stats_cols(const float *a, int T, int I, int c0, int c1, double *abs_,
                                     double *sq)
{
    /* accumulate in float over blocks of rows, in double across blocks */
    enum { BLK = 64, CW = 256 };
    float fa[CW], fs[CW];
    for (int cb = c0; cb < c1; cb += CW) {
        int cw = LR_MIN(CW, c1 - cb);
        for (int t0 = 0; t0 < T; t0 += BLK) {
            int t1 = LR_MIN(T, t0 + BLK);
            for (int c = 0; c < cw; c++) fa[c] = fs[c] = 0;
            for (int t = t0; t < t1; t++) {
                const float *r = a + (size_t)t * I + cb;
#pragma omp simd
                for (int c = 0; c < cw; c++) {
                    fa[c] += fabsf(r[c]);
                    fs[c] += r[c] * r[c];
                }
            }
            for (int c = 0; c < cw; c++) {
                abs_[cb + c] += fa[c];
                sq[cb + c] += fs[c];
            }
        }
    }
}

/* ------------------------------------------------------------------ */
/* layer steps */

typedef struct rms_job {
    float *y, *rstd;
    const float *x, *w;
    int n;
    float eps;
} rms_job;

static void rmsnorm_rows(void *ctx, long lo, long hi)
{
    const rms_job *j = ctx;
    for (long t = lo; t < hi; t++) {
        float r = rms_row(j->y + (size_t)t * j->n, j->x + (size_t)t * j->n, j->w, j->n, j->eps);
        if (j->rstd) j->rstd[t] = r;
    }
}

void lr_rmsnorm(float *y, float *rstd, const float *x, const float *w, int rows, int n, float eps)
{
    rms_job j = {y, rstd, x, w, n, eps};
    lr_par_range(rows, (double)rows * n, rmsnorm_rows, &j);
}

typedef struct rms_bwd_job {
    float *dx, *part;
    bool acc;
    const float *dy, *x, *rstd, *w;
    int rows, n, parts;
} rms_bwd_job;

static void rms_bwd_part(void *ctx, int p)
{
    const rms_bwd_job *j = ctx;
    const int n = j->n;
    float *pg = j->part ? j->part + (size_t)p * n : NULL;
    for (long t = (long)j->rows * p / j->parts; t < (long)j->rows * (p + 1) / j->parts; t++)
        rms_bwd_row(j->dx + (size_t)t * n, j->acc, j->dy + (size_t)t * n, j->x + (size_t)t * n,
                    j->rstd[t], j->w, pg, n);
}

/* RMSNorm backward over rows; the weight gradient from partial sums over
 * parts fixed by the row count (the same on any number of threads). */
static void rms_bwd(float *dx, bool acc, const float *dy, const float *x, const float *rstd,
                    const float *w, float *gw, int rows, int n)
{
    if (rows <= 0) return;
    const int parts = LR_MIN(rows, LR_PAR_PARTS);
    float *part = gw ? lr_xcalloc((size_t)parts * n, sizeof(float)) : NULL;
    rms_bwd_job j = {dx, part, acc, dy, x, rstd, w, rows, n, parts};
    lr_par_tasks(parts, (double)rows * n, rms_bwd_part, &j);
    if (gw) {
        for (int k = 0; k < parts; k++)
            for (int i = 0; i < n; i++) gw[i] += part[(size_t)k * n + i];
        free(part);
    }
}

/* add_bias: out (rows x n) += in (the bias) on every row; bias_bwd:
 * out (the bias gradient) += the column sums of in (rows x n) */
typedef struct bias_job {
    float *out;
    const float *in;
    int rows, n;
} bias_job;

static void add_bias_rows(void *ctx, long lo, long hi)
{
    const bias_job *j = ctx;
    for (long t = lo; t < hi; t++) add_row(j->out + (size_t)t * j->n, j->in, j->n);
}

static void add_bias(float *y, const float *b, int T, int out)
{
    bias_job j = {y, b, T, out};
    lr_par_range(T, (double)T * out, add_bias_rows, &j);
}

void lr_linear(float *y, const float *x, const float *w, const float *b, int T, int in, int out,
               float beta)
{
    gemm(false, true, T, out, in, 1.0f, x, in, w, in, beta, y, out);
    if (b) add_bias(y, b, T, out);
}

static void bias_bwd_cols(void *ctx, long lo, long hi)
{
    const bias_job *j = ctx;
    for (long i = lo; i < hi; i++) {
        float s = 0;
        for (int t = 0; t < j->rows; t++) s += j->in[(size_t)t * j->n + i];
        j->out[i] += s;
    }
}

/* Sum of rows into g (bias gradient). */
static void bias_bwd(float *g, const float *dy, int rows, int n)
{
    if (!g) return;
    bias_job j = {g, dy, rows, n};
    lr_par_range(n, (double)rows * n, bias_bwd_cols, &j);
}

/* A product with a projection's weights (either side), at the model's
 * precision: a trainable model's bf16 packs both sides per product. */
static void wgemm(const lr_model *m, bool trans_a, bool trans_b, int M, int N, int K, const float *a,
                  int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    if (m->prec == LR_PREC_BF16)
        lr_bgemm(trans_a, trans_b, M, N, K, a, lda, b, ldb, beta, c, ldc);
    else
        lr_sgemm(trans_a, trans_b, M, N, K, 1.0f, a, lda, b, ldb, beta, c, ldc);
}

/* Linear y = x W^T backward: gw += dy^T x, or an adapter's gradients
 * when ad has a rank; dx (= or +=) dy W. */
static void linear_bwd(const lr_model *m, float *dx, float beta, const float *dy, const float *x,
                       const float *w, float *gw, const lr_adapter *ad, int T, int in, int out)
{
    if (ad && ad->rank) {
        /* dB += s dY^T (X A^T), dA += s (dY B)^T X: products with a side
         * of r columns, 2 T r (in + out) flops each pair against 2 T in
         * out for gw, which a GEMM would spend copying X and dY */
        const int r = ad->rank, rp = (r + LR_THIN_W - 1) / LR_THIN_W * LR_THIN_W;
        float *at = lr_xcalloc(((size_t)2 * (in + out) + 2 * (size_t)T) * rp, sizeof(float));
        float *bp = at + (size_t)in * rp, *gat = bp + (size_t)out * rp, *gbp = gat + (size_t)in * rp;
        float *xa = gbp + (size_t)out * rp, *dyb = xa + (size_t)T * rp;
        for (int k = 0; k < r; k++)
            for (int i = 0; i < in; i++) at[(size_t)i * rp + k] = ad->a[(size_t)k * in + i];
        for (int o = 0; o < out; o++) memcpy(bp + (size_t)o * rp, ad->b + (size_t)o * r, r * sizeof(float));
        lr_thin_mm(T, in, x, in, at, rp, xa);
        lr_thin_mm(T, out, dy, out, bp, rp, dyb);
        lr_thin_tmm(T, out, dy, out, xa, rp, gbp);
        lr_thin_tmm(T, in, x, in, dyb, rp, gat);
        for (int o = 0; o < out; o++)
            for (int k = 0; k < r; k++) ad->gb[(size_t)o * r + k] += ad->scale * gbp[(size_t)o * rp + k];
        for (int k = 0; k < r; k++)
            for (int i = 0; i < in; i++) ad->ga[(size_t)k * in + i] += ad->scale * gat[(size_t)i * rp + k];
        free(at);
    } else if (gw) {
        wgemm(m, true, false, out, in, T, dy, out, x, in, 1.0f, gw, in);
    }
    if (dx) wgemm(m, false, false, T, in, out, dy, out, w, in, beta, dx, in);
}

/* Projection `which` of layer l: lr_linear, or the reduced-precision
 * product when the model has one (weights converted once, or per product
 * when trainable). */
static void proj(const lr_model *m, int l, int which, float *y, const float *x, const float *w,
                 const float *b, int T, int in, int out, float beta)
{
    const lr_qmat *q = m->qm ? m->qm[(size_t)l * LR_NW + which] : NULL;
    if (q)
        lr_qgemm(q, x, T, y, beta);
    else if (m->prec == LR_PREC_BF16)
        lr_bgemm(false, true, T, out, in, x, in, w, in, beta, y, out);
    else {
        lr_linear(y, x, w, b, T, in, out, beta);
        return;
    }
    if (b) add_bias(y, b, T, out);
}

typedef struct rope_job {
    const lr_model *m;
    float *x;
    const int *pos;
    int heads;
    float sign;
} rope_job;

static void rope_rows(void *ctx, long lo, long hi)
{
    const rope_job *j = ctx;
    const int hd = j->m->hd, half = hd / 2;
    for (long t = lo; t < hi; t++) {
        const float *cs = j->m->rope_cos + (size_t)j->pos[t] * half;
        const float *sn = j->m->rope_sin + (size_t)j->pos[t] * half;
        for (int h = 0; h < j->heads; h++)
            rope_row(j->x + ((size_t)t * j->heads + h) * hd, cs, sn, half, j->sign);
    }
}

void lr_rope(const lr_model *m, float *x, int T, int heads, const int *pos, bool inverse)
{
    rope_job j = {m, x, pos, heads, inverse ? -1.0f : 1.0f};
    lr_par_range(T, (double)T * heads * m->hd, rope_rows, &j);
}

/* flat elementwise operands */
typedef struct flat_job {
    float *y;
    const float *a, *b;
} flat_job;

static void swiglu_span(void *ctx, long lo, long hi)
{
    const flat_job *j = ctx;
    swiglu_row(j->y + lo, j->a + lo, j->b + lo, (size_t)(hi - lo));
}

void lr_swiglu(float *act, const float *gate, const float *up, size_t n)
{
    flat_job j = {act, gate, up};
    lr_par_range((long)n, (double)n, swiglu_span, &j);
}

static void add_span(void *ctx, long lo, long hi)
{
    const flat_job *j = ctx;
    add_row(j->y + lo, j->a + lo, (size_t)(hi - lo));
}

void lr_add(float *y, const float *x, size_t n)
{
    flat_job j = {y, x, NULL};
    lr_par_range((long)n, (double)n, add_span, &j);
}

/* first key visible to query i */
static inline int key_lo(const lr_model *m, int i)
{
    return m->window && i - m->window + 1 > 0 ? i - m->window + 1 : 0;
}

typedef struct attn_job {
    const lr_model *m;
    const float *qr, *kr, *v;
    const int *seq_start;
    const char *use;
    float *att, *lse;
} attn_job;

/* (sequence, head) number task of attention_direct */
static void attention_direct_task(void *ctx, int task)
{
    const attn_job *j = ctx;
    const lr_model *m = j->m;
    const int nh = m->nh, hd = m->hd, qdim = m->qdim, kvdim = m->kvdim;
    const int s = task / nh, h = task % nh, g = h / (nh / m->nkv);
    if (!j->use[s]) return;
    const int s0 = j->seq_start[s], L = j->seq_start[s + 1] - s0;
    float *sc = lr_xmalloc((size_t)L * sizeof(float));
    for (int i = 0; i < L; i++) {
        const float *q = j->qr + (size_t)(s0 + i) * qdim + h * hd;
        const int lo = key_lo(m, i), n = i - lo + 1;
        for (int k = 0; k < n; k++)
            sc[k] = m->scale * lr_dotf(q, j->kr + (size_t)(s0 + lo + k) * kvdim + g * hd, hd);
        float l = softmax_row(sc, n);
        if (j->lse) j->lse[(size_t)(s0 + i) * nh + h] = l;
        float *o = j->att + (size_t)(s0 + i) * qdim + h * hd;
        memset(o, 0, hd * sizeof(float));
        for (int k = 0; k < n; k++)
            lr_axpyf(o, sc[k], j->v + (size_t)(s0 + lo + k) * kvdim + g * hd, hd);
    }
    free(sc);
}

/* Direct attention for short sequences: one (sequence, head) per task. */
static void attention_direct(lr_model *m, const float *qr, const float *kr, const float *v,
                             const int *seq_start, int n_seq, const char *use, float *att,
                             float *lse)
{
    double work = 0;
    for (int s = 0; s < n_seq; s++)
        if (use[s]) {
            int L = seq_start[s + 1] - seq_start[s];
            work += (double)L * L * m->nh * m->hd;
        }
    if (work == 0) return;
    attn_job j = {m, qr, kr, v, seq_start, use, att, lse};
    /* work counts multiply-adds, which go faster than elementwise work */
    lr_par_tasks(n_seq * m->nh, work / 4, attention_direct_task, &j);
}

/* Query positions per block of attention_gemm: a short sequence in one
 * block, a long one in blocks of 64. */
static int query_block(int L) { return L <= 128 ? L : 64; }

/* GEMM attention for one long sequence.  Queries go in blocks of QB
 * positions, each against only the keys it can see (causal: little
 * wasted work above the diagonal).  The rep query heads that share a
 * key-value head are stacked into one [(qb*rep) x hd] matrix, row r =
 * position i0 + r / rep, head g*rep + r % rep, so that one GEMM scores
 * them all and one GEMM weighs the values.  buf: QB*nh*(hd + L) floats. */
/* One block of attention_gemm: queries i0 .. i0 + qb of the sequence at
 * s0, keys from k0 (kb of them), in Q and S of buf. */
typedef struct attn_block {
    const lr_model *m;
    float *Q, *S;
    float *att, *lse;
    const float *qr;
    int s0, i0, qb, k0, kb;
} attn_block;

/* Q[g][(t - i0) * rep + j] = head g * rep + j of position t, or (to_att)
 * the other way round */
static void stack_heads(const attn_block *b, long lo, long hi, bool to_att)
{
    const lr_model *m = b->m;
    const int nh = m->nh, hd = m->hd, qdim = m->qdim, rep = nh / m->nkv, rows = b->qb * rep;
    for (long t = lo; t < hi; t++)
        for (int h = 0; h < nh; h++) {
            float *q = b->Q + ((size_t)(h / rep) * rows + (size_t)t * rep + h % rep) * hd;
            size_t at = (size_t)(b->s0 + b->i0 + t) * qdim + h * hd;
            if (to_att) memcpy(b->att + at, q, hd * sizeof(float));
            else memcpy(q, b->qr + at, hd * sizeof(float));
        }
}

static void gather_heads(void *ctx, long lo, long hi) { stack_heads(ctx, lo, hi, false); }
static void scatter_heads(void *ctx, long lo, long hi) { stack_heads(ctx, lo, hi, true); }

/* softmax over each score row's visible keys, zeros elsewhere */
static void softmax_rows(void *ctx, long lo, long hi)
{
    const attn_block *b = ctx;
    const lr_model *m = b->m;
    const int rep = m->nh / m->nkv, rows = b->qb * rep, kb = b->kb;
    for (long gr = lo; gr < hi; gr++) {
        const int g = (int)(gr / rows), r = (int)(gr % rows), i = b->i0 + r / rep;
        float *row = b->S + (size_t)gr * kb;
        const int lo_k = key_lo(m, i) - b->k0, hi_k = i - b->k0 + 1;
        float l = softmax_row(row + lo_k, hi_k - lo_k);
        if (b->lse) b->lse[(size_t)(b->s0 + i) * m->nh + g * rep + r % rep] = l;
        if (lo_k) memset(row, 0, lo_k * sizeof(float));
        if (hi_k < kb) memset(row + hi_k, 0, (kb - hi_k) * sizeof(float));
    }
}

static void attention_gemm(lr_model *m, const float *qr, const float *kr, const float *v, int s0,
                           int L, float *att, float *lse, float *buf)
{
    const int nh = m->nh, nkv = m->nkv, hd = m->hd, qdim = m->qdim, kvdim = m->kvdim;
    const int rep = nh / nkv, QB = query_block(L);
    for (int i0 = 0; i0 < L; i0 += QB) {
        const int i1 = LR_MIN(L, i0 + QB), qb = i1 - i0, rows = qb * rep;
        const int k0 = key_lo(m, i0), kb = i1 - k0;
        float *Q = buf, *S = buf + (size_t)nkv * rows * hd;
        attn_block b = {m, Q, S, att, lse, qr, s0, i0, qb, k0, kb};
        lr_par_range(qb, (double)qb * qdim, gather_heads, &b);
        for (int g = 0; g < nkv; g++)
            gemm(false, true, rows, kb, hd, m->scale, Q + (size_t)g * rows * hd, hd,
                 kr + (size_t)(s0 + k0) * kvdim + g * hd, kvdim, 0.0f, S + (size_t)g * rows * kb, kb);
        lr_par_range((long)nkv * rows, (double)nkv * rows * kb, softmax_rows, &b);
        for (int g = 0; g < nkv; g++)   /* the weighted values overwrite Q */
            gemm(false, false, rows, hd, kb, 1.0f, S + (size_t)g * rows * kb, kb,
                 v + (size_t)(s0 + k0) * kvdim + g * hd, kvdim, 0.0f, Q + (size_t)g * rows * hd, hd);
        lr_par_range(qb, (double)qb * qdim, scatter_heads, &b);
    }
}

void lr_attention(lr_model *m, const float *qr, const float *kr, const float *v,
                  const int *seq_start, int n_seq, float *att, float *lse)
{
    char *use = lr_xmalloc(n_seq ? n_seq : 1);
    size_t need = 0;   /* floats of attention_gemm's buffer for the largest block */
    for (int s = 0; s < n_seq; s++) {
        int L = seq_start[s + 1] - seq_start[s];
        use[s] = L < m->attn_gemm_min;
        if (!use[s]) need = LR_MAX(need, (size_t)query_block(L) * m->nh * (size_t)(m->hd + L));
    }
    attention_direct(m, qr, kr, v, seq_start, n_seq, use, att, lse);
    if (need) {
        float *buf = lr_xmalloc(need * sizeof(float));
        for (int s = 0; s < n_seq; s++)
            if (!use[s])
                attention_gemm(m, qr, kr, v, seq_start[s], seq_start[s + 1] - seq_start[s], att, lse,
                               buf);
        free(buf);
    }
    free(use);
}

typedef struct probs_job {
    const lr_model *m;
    const lr_layer_cache *lc;
    float *P;
    int s0, L, head, i0;
} probs_job;

/* rows lo .. hi of P: queries i0 + lo .. i0 + hi */
static void probs_rows(void *ctx, long lo, long hi)
{
    const probs_job *j = ctx;
    const lr_model *m = j->m;
    const int g = j->head / (m->nh / m->nkv);
    for (long r = lo; r < hi; r++) {
        const int i = j->i0 + (int)r, k0 = key_lo(m, i), n = i - k0 + 1;
        float *p = j->P + (size_t)r * j->L;
        memset(p, 0, j->L * sizeof(float));
        probs_row(p + k0, j->lc->qr + (size_t)(j->s0 + i) * m->qdim + j->head * m->hd,
                  j->lc->kr + (size_t)(j->s0 + k0) * m->kvdim + g * m->hd, m->kvdim, n, m->hd,
                  m->scale, j->lc->lse[(size_t)(j->s0 + i) * m->nh + j->head]);
    }
}

void lr_attention_probs(const lr_model *m, const lr_fwd_cache *c, int layer, int seq, int head,
                        int i0, int i1, float *P)
{
    probs_job j = {m, &c->layers[layer], P, c->seq_start[seq],
                   c->seq_start[seq + 1] - c->seq_start[seq], head, i0};
    lr_par_range(i1 - i0, (double)(i1 - i0) * j.L, probs_rows, &j);
}

/* Attention backward, in GEMMs like attention_gemm: one task per
 * (sequence, key-value head), so that dK and dV rows have a single
 * writer, its products on the task's thread.  Per block of query
 * positions, the rep heads sharing the key-value head stacked as rows:
 *   P = exp(scale Q K^T - lse) (zero where masked), dP = dO V^T,
 *   D = rowsum(P * dP), dS = scale P * (dP - D),
 *   dQ = dS K, dK += dS^T Q, dV += P^T dO,
 * and the attention output P V again into att (the cache keeps none). */
typedef struct attn_bwd_job {
    const lr_model *m;
    const lr_fwd_cache *c;
    const lr_layer_cache *lc;
    const float *datt;
    float *dq, *dk, *dv, *att;
} attn_bwd_job;

static void attention_bwd_task(void *ctx, int task)
{
    const attn_bwd_job *j = ctx;
    const lr_model *m = j->m;
    const lr_layer_cache *lc = j->lc;
    const int nh = m->nh, nkv = m->nkv, hd = m->hd, qdim = m->qdim, kvdim = m->kvdim;
    const int rep = nh / nkv, s = task / nkv, g = task % nkv;
    const int s0 = j->c->seq_start[s], L = j->c->lens[s], QB = query_block(L);
    const int maxrows = LR_MIN(QB, L) * rep;
    float *Q = lr_xmalloc(((size_t)maxrows * (3 * hd + 2 * (size_t)L + 1)) * sizeof(float));
    float *dO = Q + (size_t)maxrows * hd, *dQ = dO + (size_t)maxrows * hd;
    float *P = dQ + (size_t)maxrows * hd, *dS = P + (size_t)maxrows * L, *D = dS + (size_t)maxrows * L;
    const float *K = lc->kr + (size_t)s0 * kvdim + g * hd, *V = lc->v + (size_t)s0 * kvdim + g * hd;
    float *dK = j->dk + (size_t)s0 * kvdim + g * hd, *dV = j->dv + (size_t)s0 * kvdim + g * hd;
    for (int i0 = 0; i0 < L; i0 += QB) {
        const int i1 = LR_MIN(L, i0 + QB), rows = (i1 - i0) * rep;
        const int k0 = key_lo(m, i0), kb = i1 - k0;
        /* row r: position i0 + r / rep, head g * rep + r % rep */
        for (int r = 0; r < rows; r++) {
            const size_t o = (size_t)(s0 + i0 + r / rep) * qdim + (size_t)(g * rep + r % rep) * hd;
            memcpy(Q + (size_t)r * hd, lc->qr + o, hd * sizeof(float));
            memcpy(dO + (size_t)r * hd, j->datt + o, hd * sizeof(float));
        }
        lr_sgemm1(false, true, rows, kb, hd, m->scale, Q, hd, K + (size_t)k0 * kvdim, kvdim, 0.0f, P,
                  kb);
        lr_sgemm1(false, true, rows, kb, hd, 1.0f, dO, hd, V + (size_t)k0 * kvdim, kvdim, 0.0f, dS,
                  kb);
        for (int r = 0; r < rows; r++) {
            const int i = i0 + r / rep, h = g * rep + r % rep;
            const int lo = key_lo(m, i) - k0, hi = i - k0 + 1;
            const float lse = lc->lse[(size_t)(s0 + i) * nh + h];
            float *p = P + (size_t)r * kb, *ds = dS + (size_t)r * kb;
            for (int c = lo; c < hi; c++) p[c] = lr_expf(p[c] - lse);
            if (lo) memset(p, 0, lo * sizeof(float));
            if (hi < kb) memset(p + hi, 0, (kb - hi) * sizeof(float));
            D[r] = dot_row(p + lo, ds + lo, hi - lo);
            for (int c = 0; c < kb; c++) ds[c] = m->scale * p[c] * (ds[c] - D[r]);
        }
        /* the attention output again (P V), for o_proj's weight gradient */
        lr_sgemm1(false, false, rows, hd, kb, 1.0f, P, kb, V + (size_t)k0 * kvdim, kvdim, 0.0f, dQ,
                  hd);
        for (int r = 0; r < rows; r++)
            memcpy(j->att + (size_t)(s0 + i0 + r / rep) * qdim + (size_t)(g * rep + r % rep) * hd,
                   dQ + (size_t)r * hd, hd * sizeof(float));
        lr_sgemm1(false, false, rows, hd, kb, 1.0f, dS, kb, K + (size_t)k0 * kvdim, kvdim, 0.0f, dQ,
                  hd);
        lr_sgemm1(true, false, kb, hd, rows, 1.0f, dS, kb, Q, hd, 1.0f, dK + (size_t)k0 * kvdim,
                  kvdim);
        lr_sgemm1(true, false, kb, hd, rows, 1.0f, P, kb, dO, hd, 1.0f, dV + (size_t)k0 * kvdim,
                  kvdim);
        for (int r = 0; r < rows; r++)
            memcpy(j->dq + (size_t)(s0 + i0 + r / rep) * qdim + (size_t)(g * rep + r % rep) * hd,
                   dQ + (size_t)r * hd, hd * sizeof(float));
    }
    free(Q);
}

static void attention_bwd(const lr_model *m, const lr_fwd_cache *c, const lr_layer_cache *lc,
                          const float *datt, float *dq, float *dk, float *dv, float *att)
{
    memset(dk, 0, (size_t)c->T * m->kvdim * sizeof(float));
    memset(dv, 0, (size_t)c->T * m->kvdim * sizeof(float));
    attn_bwd_job j = {m, c, lc, datt, dq, dk, dv, att};
    lr_par_for(c->n_seq * m->nkv, attention_bwd_task, &j);
}

/* Biases, per-head q/k RMSNorm and RoPE, fused per token.  q/k hold the
 * projections; bias is added there in place; the normed and rotated heads
 * go to qr/kr (which may equal q/k). */
typedef struct qkv_job {
    const lr_model *m;
    const lr_layer_w *w;
    const int *pos;
    float *q, *k, *v, *qr, *kr, *q_rstd, *k_rstd;
} qkv_job;

static void qkv_post_rows(void *ctx, long lo, long hi)
{
    const qkv_job *j = ctx;
    const lr_model *m = j->m;
    const lr_layer_w *w = j->w;
    const int hd = m->hd, half = hd / 2, nh = m->nh, nkv = m->nkv;
    const float eps = m->eps;
    const int *pos = j->pos;
    float *q = j->q, *k = j->k, *v = j->v, *qr = j->qr, *kr = j->kr;
    float *q_rstd = j->q_rstd, *k_rstd = j->k_rstd;
    for (long t = lo; t < hi; t++) {
        float *qt = q + (size_t)t * m->qdim, *kt = k + (size_t)t * m->kvdim;
        float *qo = qr + (size_t)t * m->qdim, *ko = kr + (size_t)t * m->kvdim;
        if (w->bq) add_row(qt, w->bq, m->qdim);
        if (w->bk) add_row(kt, w->bk, m->kvdim);
        if (w->bv) add_row(v + (size_t)t * m->kvdim, w->bv, m->kvdim);
        const float *cs = m->rope_cos + (size_t)pos[t] * half, *sn = m->rope_sin + (size_t)pos[t] * half;
        for (int h = 0; h < nh; h++) {
            float *src = qt + h * hd, *dst = qo + h * hd;
            if (w->q_norm) {
                float r = rms_row(dst, src, w->q_norm, hd, eps);
                if (q_rstd) q_rstd[(size_t)t * nh + h] = r;
            } else if (dst != src) {
                memcpy(dst, src, hd * sizeof(float));
            }
            rope_row(dst, cs, sn, half, 1.0f);
        }
        for (int h = 0; h < nkv; h++) {
            float *src = kt + h * hd, *dst = ko + h * hd;
            if (w->k_norm) {
                float r = rms_row(dst, src, w->k_norm, hd, eps);
                if (k_rstd) k_rstd[(size_t)t * nkv + h] = r;
            } else if (dst != src) {
                memcpy(dst, src, hd * sizeof(float));
            }
            rope_row(dst, cs, sn, half, 1.0f);
        }
    }
}

static void qkv_post(lr_model *m, const lr_layer_w *w, const int *pos, int T, float *q, float *k,
                     float *v, float *qr, float *kr, float *q_rstd, float *k_rstd)
{
    qkv_job j = {m, w, pos, q, k, v, qr, kr, q_rstd, k_rstd};
    lr_par_range(T, (double)T * (m->qdim + 2 * m->kvdim), qkv_post_rows, &j);
}

/* Per-head RMSNorm backward (Qwen3 q_norm/k_norm): d (in place) holds the
 * gradient w.r.t. the normed heads, pre the projection with bias. */
static void headnorm_bwd(float *d, const float *pre, const float *rstd, const float *w, float *gw,
                         int T, int heads, int hd)
{
    /* rows = T * heads of hd values */
    float *tmp = lr_xmalloc((size_t)T * heads * hd * sizeof(float));
    rms_bwd(tmp, false, d, pre, rstd, w, gw, T * heads, hd);
    memcpy(d, tmp, (size_t)T * heads * hd * sizeof(float));
    free(tmp);
}

/* two matrices of rows of n */
typedef struct pair_job {
    const float *a, *b;
    int n;
} pair_job;

static double cos_rows(void *ctx, long lo, long hi)
{
    const pair_job *j = ctx;
    const int H = j->n;
    double total = 0;
    for (long t = lo; t < hi; t++) {
        const float *x = j->a + (size_t)t * H, *y = j->b + (size_t)t * H;
        double xy = 0, xx = 0, yy = 0;
        for (int i = 0; i < H; i++) {
            xy += (double)x[i] * y[i];
            xx += (double)x[i] * x[i];
            yy += (double)y[i] * y[i];
        }
        /* torch.nn.functional.cosine_similarity, eps 1e-8 */
        double d = sqrt(xx) * sqrt(yy);
        total += xy / (d > 1e-8 ? d : 1e-8);
    }
    return total;
}

/* sum over tokens of cos(a_t, b_t), in double */
static double cos_sum(const float *a, const float *b, int T, int H)
{
    pair_job j = {a, b, H};
    return lr_par_sum(T, (double)T * H, cos_rows, &j);
}

typedef struct stats_job {
    const float *a;
    int T, I;
    double *abs_, *sq;
} stats_job;

/* blocks lo .. hi of 64 channels */
static void act_stats_blocks(void *ctx, long lo, long hi)
{
    const stats_job *j = ctx;
    act_stats_cols(j->a, j->T, j->I, (int)(lo * 64), (int)LR_MIN(hi * 64, (long)j->I), j->abs_, j->sq);
}

static void act_stats(const float *a, int T, int I, double *abs_, double *sq)
{
    stats_job j = {a, T, I, abs_, sq};
    lr_par_range((I + 63) / 64, (double)T * I, act_stats_blocks, &j);
}

/* ------------------------------------------------------------------ */
/* statistics */

lr_stats *lr_stats_new(const lr_checkpoint *ck)
{
    lr_stats *s = lr_xcalloc(1, sizeof *s);
    int n = ck->cfg.n_layers;
    s->n_layers = n;
    s->attn_cos = lr_xcalloc(n, sizeof(double));
    s->mlp_cos = lr_xcalloc(n, sizeof(double));
    s->mlp_width = lr_xcalloc(n, sizeof(int));
    s->act_abs = lr_xcalloc(n, sizeof(double *));
    s->act_sq = lr_xcalloc(n, sizeof(double *));
    for (int l = 0; l < n; l++) {
        int w = ck->layers ? ck->layers[l].mlp : ck->cfg.intermediate;
        s->mlp_width[l] = w;
        if (w > 0) {
            s->act_abs[l] = lr_xcalloc(w, sizeof(double));
            s->act_sq[l] = lr_xcalloc(w, sizeof(double));
        }
    }
    return s;
}

void lr_stats_free(lr_stats *s)
{
    if (!s) return;
    for (int l = 0; l < s->n_layers; l++) {
        free(s->act_abs[l]);
        free(s->act_sq[l]);
    }
    free(s->act_abs);
    free(s->act_sq);
    free(s->attn_cos);
    free(s->mlp_cos);
    free(s->mlp_width);
    free(s);
}

/* ------------------------------------------------------------------ */
/* forward */

static int check_input(const lr_model *m, const int *lens, int n_seq, struct lr_stats *stats,
                       int *T_out, int *maxlen, lr_error *err)
{
    if (n_seq < 0) return lr_errorf(err, "forward: %d sequences", n_seq);
    long T = 0;
    int mx = 0;
    for (int s = 0; s < n_seq; s++) {
        if (lens[s] < 1) return lr_errorf(err, "forward: sequence %d has length %d", s, lens[s]);
        T += lens[s];
        mx = LR_MAX(mx, lens[s]);
        if (T > INT32_MAX / 8) return lr_errorf(err, "forward: too many tokens in one batch");
    }
    if (stats) {
        if (stats->n_layers != m->n_layers)
            return lr_errorf(err, "forward: statistics for %d layers, model has %d",
                             stats->n_layers, m->n_layers);
        for (int l = 0; l < m->n_layers; l++)
            if (stats->mlp_width[l] != m->layers[l].mlp)
                return lr_errorf(err, "forward: statistics: layer %d width %d, model has %d", l,
                                 stats->mlp_width[l], m->layers[l].mlp);
    }
    *T_out = (int)T;
    *maxlen = mx;
    return 0;
}

static void fill_positions(const int *lens, int n_seq, int *seq_start, int *pos)
{
    seq_start[0] = 0;
    for (int s = 0; s < n_seq; s++) {
        seq_start[s + 1] = seq_start[s] + lens[s];
        for (int i = 0; i < lens[s]; i++) pos[seq_start[s] + i] = i;
    }
}

static int max_width(const lr_model *m)
{
    int I = 0;
    for (int l = 0; l < m->n_layers; l++) I = LR_MAX(I, m->layers[l].mlp);
    return I;
}

/* One layer.  b holds the buffers: from the cache (all distinct), or the
 * shared workspace (x == x_mid, in-place residual; qr == q, kr == k;
 * act == gate).  xnext receives the output (== b->x_mid or in place). */
static void layer_forward(lr_model *m, int l, const int *seq_start, const int *pos, int n_seq,
                          int T, lr_layer_cache *b, float *xnext, float *save,
                          struct lr_stats *stats)
{
    const lr_layer_w *w = lr_model_layer_weights(m, l);
    const int H = m->H;
    float *x = b->x;
    if (w->attn) {
        lr_rmsnorm(b->xn1, b->rstd1, x, w->attn_norm, T, H, m->eps);
        proj(m, l, LR_WQ, b->q, b->xn1, w->wq, NULL, T, H, m->qdim, 0.0f);
        proj(m, l, LR_WK, b->k, b->xn1, w->wk, NULL, T, H, m->kvdim, 0.0f);
        proj(m, l, LR_WV, b->v, b->xn1, w->wv, NULL, T, H, m->kvdim, 0.0f);
        qkv_post(m, w, pos, T, b->q, b->k, b->v, b->qr, b->kr, b->q_rstd, b->k_rstd);
        lr_attention(m, b->qr, b->kr, b->v, seq_start, n_seq, b->att, b->lse);
        float *prev = x;
        if (b->x_mid != x) {
            memcpy(b->x_mid, x, (size_t)T * H * sizeof(float));
        } else if (stats) {
            memcpy(save, x, (size_t)T * H * sizeof(float));
            prev = save;
        }
        proj(m, l, LR_WO, b->x_mid, b->att, w->wo, NULL, T, m->qdim, H, 1.0f);
        if (stats) stats->attn_cos[l] += cos_sum(prev, b->x_mid, T, H);
        x = b->x_mid;
    }
    if (w->mlp) {
        const int I = w->mlp;
        lr_rmsnorm(b->xn2, b->rstd2, x, w->mlp_norm, T, H, m->eps);
        proj(m, l, LR_WGATE, b->gate, b->xn2, w->w_gate, NULL, T, H, I, 0.0f);
        proj(m, l, LR_WUP, b->up, b->xn2, w->w_up, NULL, T, H, I, 0.0f);
        lr_swiglu(b->act, b->gate, b->up, (size_t)T * I);
        if (stats) act_stats(b->act, T, I, stats->act_abs[l], stats->act_sq[l]);
        float *prev = x;
        if (xnext != x) {
            memcpy(xnext, x, (size_t)T * H * sizeof(float));
        } else if (stats) {
            memcpy(save, x, (size_t)T * H * sizeof(float));
            prev = save;
        }
        proj(m, l, LR_WDOWN, xnext, b->act, w->w_down, NULL, T, I, H, 1.0f);
        if (stats) stats->mlp_cos[l] += cos_sum(prev, xnext, T, H);
    }
}

int lr_model_forward(lr_model *m, const int32_t *ids, const int *lens, int n_seq, float *hidden,
                     struct lr_stats *stats, lr_error *err)
{
    int T, maxlen;
    if (check_input(m, lens, n_seq, stats, &T, &maxlen, err)) return -1;
    if (T == 0) return 0;
    lr_model_rope_reserve(m, maxlen);
    const int H = m->H, I = max_width(m);
    /* workspace: x, xn, q, k, v, att, gate, up, save */
    size_t need = (size_t)T * (2 * H + 2 * m->qdim + 2 * m->kvdim + 2 * (size_t)I +
                               (stats ? H : 0));
    if (m->work.cap < need) {
        free(m->work.buf);
        m->work.buf = lr_xmalloc(need * sizeof(float));
        m->work.cap = need;
    }
    size_t ineed = (size_t)n_seq + 1 + T;
    if (m->work.icap < ineed) {
        free(m->work.ibuf);
        m->work.ibuf = lr_xmalloc(ineed * sizeof(int));
        m->work.icap = ineed;
    }
    int *seq_start = m->work.ibuf, *pos = seq_start + n_seq + 1;
    fill_positions(lens, n_seq, seq_start, pos);
    float *p = m->work.buf;
    lr_layer_cache b = {0};
    b.x = lr_carve(&p, (size_t)T * H);
    b.xn1 = b.xn2 = lr_carve(&p, (size_t)T * H);
    b.q = b.qr = lr_carve(&p, (size_t)T * m->qdim);
    b.att = lr_carve(&p, (size_t)T * m->qdim);
    b.k = b.kr = lr_carve(&p, (size_t)T * m->kvdim);
    b.v = lr_carve(&p, (size_t)T * m->kvdim);
    b.gate = b.act = lr_carve(&p, (size_t)T * I);
    b.up = lr_carve(&p, (size_t)T * I);
    float *save = stats ? p : NULL;
    b.x_mid = b.x;
    if (lr_model_embed(m, ids, T, b.x, err)) return -1;
    for (int l = 0; l < m->n_layers; l++)
        layer_forward(m, l, seq_start, pos, n_seq, T, &b, b.x, save, stats);
    if (hidden) lr_rmsnorm(hidden, NULL, b.x, m->final_norm, T, H, m->eps);
    if (stats) stats->tokens += T;
    return 0;
}

/* ------------------------------------------------------------------ */
/* forward with cache */

lr_fwd_cache *lr_fwd_cache_new(void)
{
    return lr_xcalloc(1, sizeof(lr_fwd_cache));
}

void lr_fwd_cache_free(lr_fwd_cache *c)
{
    if (!c) return;
    free(c->buf);
    free(c->lens);
    free(c->layers);
    free(c);
}

int lr_model_forward_cached(lr_model *m, const int32_t *ids, const int *lens, int n_seq,
                            lr_fwd_cache *c, struct lr_stats *stats, lr_error *err)
{
    int T, maxlen;
    if (check_input(m, lens, n_seq, stats, &T, &maxlen, err)) return -1;
    lr_model_rope_reserve(m, maxlen);
    const int H = m->H, L = m->n_layers, I = max_width(m);
    const bool qkn = m->cfg.qk_norm;
    /* sizes: the embeddings, the normed input and activation of the
     * layer being computed (not kept: the backward recomputes them),
     * hidden and rstd_out; per layer what the backward reads */
    size_t need = (size_t)T * (3 * H + 1 + (size_t)I + m->qdim);
    for (int l = 0; l < L; l++) {
        const lr_layer_w *w = &m->layers[l];
        need += (size_t)T * H;   /* the layer's output */
        if (w->attn)
            need += (size_t)T * (1 + m->qdim + 2 * m->kvdim + m->nh + H) +
                    (qkn ? (size_t)T * (m->qdim + m->kvdim + m->nh + m->nkv) : 0);
        if (w->mlp) need += (size_t)T * (1 + 2 * (size_t)w->mlp);
    }
    if (c->buf_cap < need) {
        free(c->buf);
        c->buf = lr_xmalloc((need ? need : 1) * sizeof(float));
        c->buf_cap = need;
    }
    size_t ineed = (size_t)n_seq * 2 + 1 + (size_t)T * 2;
    if (c->int_cap < ineed) {
        free(c->lens);
        c->lens = lr_xmalloc(ineed * sizeof(int));
        c->int_cap = ineed;
    }
    if (c->n_layers != L) {
        free(c->layers);
        c->layers = lr_xcalloc(L, sizeof *c->layers);
    }
    c->T = T;
    c->n_seq = n_seq;
    c->n_layers = L;
    c->seq_start = c->lens + n_seq;
    c->pos = c->seq_start + n_seq + 1;
    c->ids = (int32_t *)(c->pos + T);
    memcpy(c->lens, lens, n_seq * sizeof(int));
    memcpy(c->ids, ids, (size_t)T * sizeof(int32_t));
    fill_positions(lens, n_seq, c->seq_start, c->pos);
    float *p = c->buf;
    float *x = lr_carve(&p, (size_t)T * H);
    float *xn = lr_carve(&p, (size_t)T * H), *act = lr_carve(&p, (size_t)T * I);
    float *att = lr_carve(&p, (size_t)T * m->qdim);
    if (lr_model_embed(m, ids, T, x, err)) return -1;
    for (int l = 0; l < L; l++) {
        const lr_layer_w *w = &m->layers[l];
        lr_layer_cache *b = &c->layers[l];
        memset(b, 0, sizeof *b);
        b->x = x;
        b->x_mid = x;
        if (w->attn) {
            b->rstd1 = lr_carve(&p, T);
            b->xn1 = xn;
            /* q and k before RoPE only for the head norms' backward */
            b->qr = lr_carve(&p, (size_t)T * m->qdim);
            b->q = qkn ? lr_carve(&p, (size_t)T * m->qdim) : b->qr;
            b->att = att;
            b->kr = lr_carve(&p, (size_t)T * m->kvdim);
            b->k = qkn ? lr_carve(&p, (size_t)T * m->kvdim) : b->kr;
            b->v = lr_carve(&p, (size_t)T * m->kvdim);
            b->lse = lr_carve(&p, (size_t)T * m->nh);
            if (qkn) {
                b->q_rstd = lr_carve(&p, (size_t)T * m->nh);
                b->k_rstd = lr_carve(&p, (size_t)T * m->nkv);
            }
            b->x_mid = lr_carve(&p, (size_t)T * H);
        }
        float *xnext = b->x_mid;
        if (w->mlp) {
            b->rstd2 = lr_carve(&p, T);
            b->xn2 = xn;
            b->gate = lr_carve(&p, (size_t)T * w->mlp);
            b->up = lr_carve(&p, (size_t)T * w->mlp);
            b->act = act;
            xnext = lr_carve(&p, (size_t)T * H);
        } else {
            p += (size_t)T * H;
        }
        if (T) layer_forward(m, l, c->seq_start, c->pos, n_seq, T, b, xnext, NULL, stats);
        b->xn1 = b->xn2 = b->act = b->att = NULL;   /* overwritten by the next layer */
        if (!qkn) b->q = b->k = NULL;      /* rotated in place */
        x = xnext;
    }
    c->x_out = x;
    c->rstd_out = lr_carve(&p, T);
    c->hidden = lr_carve(&p, (size_t)T * H);
    if (T) lr_rmsnorm(c->hidden, c->rstd_out, c->x_out, m->final_norm, T, H, m->eps);
    if (stats) stats->tokens += T;
    return 0;
}

/* ------------------------------------------------------------------ */
/* backward */

size_t lr_model_backward_floats(const lr_model *m, int T)
{
    return (size_t)T * (3 * m->H + 3 * m->qdim + 2 * m->kvdim + 3 * (size_t)max_width(m));
}

typedef struct swiglu_bwd_job {
    float *dg, *du;
    const float *dact, *gate, *up;
    int W;
} swiglu_bwd_job;

static void swiglu_bwd_rows(void *ctx, long lo, long hi)
{
    const swiglu_bwd_job *j = ctx;
    for (long t = lo; t < hi; t++) {
        size_t o = (size_t)t * j->W;
        swiglu_bwd_row(j->dg + o, j->du + o, j->dact + o, j->gate + o, j->up + o, j->W);
    }
}

typedef struct embed_bwd_job {
    float *g;
    const float *dx;
    const int32_t *ids;
    int T, H;
} embed_bwd_job;

/* columns lo .. hi of the embedding gradient, over every token */
static void embed_bwd_cols(void *ctx, long lo, long hi)
{
    const embed_bwd_job *j = ctx;
    for (int t = 0; t < j->T; t++) {
        float *ge = j->g + (size_t)j->ids[t] * j->H;
        const float *d = j->dx + (size_t)t * j->H;
        for (long i = lo; i < hi; i++) ge[i] += d[i];
    }
}

void lr_model_backward(lr_model *m, const lr_fwd_cache *c, const lr_layer_w *gw, float *g_norm,
                       float *g_embed, const lr_adapter *ad, float *dhidden, float *work)
{
    const int T = c->T, H = m->H, I = max_width(m), qdim = m->qdim, kvdim = m->kvdim;
    if (T == 0) return;
    float *p = work;
    float *dx = lr_carve(&p, (size_t)T * H), *dxn = lr_carve(&p, (size_t)T * H);
    float *xn = lr_carve(&p, (size_t)T * H);   /* a norm's output, recomputed */
    float *dq = lr_carve(&p, (size_t)T * qdim), *datt = lr_carve(&p, (size_t)T * qdim);
    float *att = lr_carve(&p, (size_t)T * qdim);   /* recomputed */
    float *dk = lr_carve(&p, (size_t)T * kvdim), *dv = lr_carve(&p, (size_t)T * kvdim);
    float *dact = lr_carve(&p, (size_t)T * I), *dg = lr_carve(&p, (size_t)T * I);
    float *du = lr_carve(&p, (size_t)T * I);

    rms_bwd(dx, false, dhidden, c->x_out, c->rstd_out, m->final_norm, g_norm, T, H);
    for (int l = m->n_layers - 1; l >= 0; l--) {
        const lr_layer_w *w = &m->layers[l];
        const lr_layer_w *g = &gw[l];
        const lr_layer_cache *lc = &c->layers[l];
        const lr_adapter *la = ad ? ad + (size_t)l * LR_NW : NULL;
#define AD(i) (la ? la + (i) : NULL)
        if (w->mlp) {
            const int W = w->mlp;
            /* the cache keeps neither xn2 nor act: recompute them (act
             * in dg, which swiglu_bwd overwrites after down_proj's use) */
            lr_rmsnorm(xn, NULL, lc->x_mid, w->mlp_norm, T, H, m->eps);
            lr_swiglu(dg, lc->gate, lc->up, (size_t)T * W);
            linear_bwd(m, dact, 0.0f, dx, dg, w->w_down, g->w_down, AD(LR_WDOWN), T, W, H);
            swiglu_bwd_job sj = {dg, du, dact, lc->gate, lc->up, W};
            lr_par_range(T, (double)T * W, swiglu_bwd_rows, &sj);
            linear_bwd(m, dxn, 0.0f, dg, xn, w->w_gate, g->w_gate, AD(LR_WGATE), T, H, W);
            linear_bwd(m, dxn, 1.0f, du, xn, w->w_up, g->w_up, AD(LR_WUP), T, H, W);
            rms_bwd(dx, true, dxn, lc->x_mid, lc->rstd2, w->mlp_norm, g->mlp_norm, T, H);
        }
        if (w->attn) {
            /* datt first: the attention backward recomputes att, which
             * o_proj's weight gradient reads */
            linear_bwd(m, datt, 0.0f, dx, NULL, w->wo, NULL, NULL, T, qdim, H);
            attention_bwd(m, c, lc, datt, dq, dk, dv, att);
            linear_bwd(m, NULL, 0.0f, dx, att, w->wo, g->wo, AD(LR_WO), T, qdim, H);
            lr_rope(m, dq, T, m->nh, c->pos, true);
            lr_rope(m, dk, T, m->nkv, c->pos, true);
            if (w->q_norm) headnorm_bwd(dq, lc->q, lc->q_rstd, w->q_norm, g->q_norm, T, m->nh, m->hd);
            if (w->k_norm) headnorm_bwd(dk, lc->k, lc->k_rstd, w->k_norm, g->k_norm, T, m->nkv, m->hd);
            lr_rmsnorm(xn, NULL, lc->x, w->attn_norm, T, H, m->eps);   /* xn1 */
            bias_bwd(g->bq, dq, T, qdim);
            bias_bwd(g->bk, dk, T, kvdim);
            bias_bwd(g->bv, dv, T, kvdim);
            linear_bwd(m, dxn, 0.0f, dq, xn, w->wq, g->wq, AD(LR_WQ), T, H, qdim);
            linear_bwd(m, dxn, 1.0f, dk, xn, w->wk, g->wk, AD(LR_WK), T, H, kvdim);
            linear_bwd(m, dxn, 1.0f, dv, xn, w->wv, g->wv, AD(LR_WV), T, H, kvdim);
            rms_bwd(dx, true, dxn, lc->x, lc->rstd1, w->attn_norm, g->attn_norm, T, H);
        }
#undef AD
    }
    if (g_embed) {
        /* rows of the same id add up: split the hidden dimension instead */
        embed_bwd_job ej = {g_embed, dx, c->ids, T, H};
        lr_par_range(H, (double)T * H, embed_bwd_cols, &ej);
    }
}
