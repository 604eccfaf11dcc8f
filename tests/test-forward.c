/* test-forward.c - the forward pass against the float64 references of
 * the shared fixtures (torchref.py), pooling, statistics, the forward
 * cache; retrieval settings and text inputs. */
#include "config.h"
#include "check-util.h"
#include "lr.h"
#include "model/model-internal.h"

#include <jansson.h>
#include <math.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* a small reader for the F64 reference safetensors */

/* Tolerances against the float64 references, each 10x or more the largest
 * error measured over every fixture, thread count and attention path
 * (LR_TEST_VERBOSE=1 prints them): hidden states and pooled vectors
 * 7.8e-7 of the largest reference value; importance 5.5e-8 of the largest
 * importance; channel absmean and l2 3.5e-7 of the largest value. */
#define TOL_HIDDEN 1e-5
#define TOL_IMPORTANCE 1e-6
#define TOL_ACT 5e-6

typedef struct ref_file {
    char *buf;
    size_t len;
    json_t *hdr;
    size_t data_off;
} ref_file;

static int ref_open(ref_file *r, const char *path)
{
    lr_error e;
    r->buf = lr_read_file(path, &r->len, &e);
    if (!r->buf || r->len < 8) return -1;
    uint64_t hl;
    memcpy(&hl, r->buf, 8);
    if (8 + hl > r->len) return -1;
    r->hdr = json_loadb(r->buf + 8, hl, 0, NULL);
    r->data_off = 8 + hl;
    return r->hdr ? 0 : -1;
}

static void ref_close(ref_file *r)
{
    json_decref(r->hdr);
    free(r->buf);
}

/* tensor as doubles (malloc'ed), numel in *n; NULL when absent */
static double *ref_get(ref_file *r, const char *name, size_t *n)
{
    json_t *t = json_object_get(r->hdr, name);
    if (!t) return NULL;
    ck_assert_str_eq(json_string_value(json_object_get(t, "dtype")), "F64");
    json_t *off = json_object_get(t, "data_offsets");
    size_t a = json_integer_value(json_array_get(off, 0)), b = json_integer_value(json_array_get(off, 1));
    ck_assert(r->data_off + b <= r->len);
    *n = (b - a) / 8;
    double *d = malloc((b - a) ? b - a : 1);
    memcpy(d, r->buf + r->data_off + a, b - a);
    return d;
}

/* ref-ids.json: a list of id lists, concatenated */
static int32_t *load_ids(const char *path, int **lens, int *n_seq, int *T)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    ck_assert_msg(j != NULL, "%s: %s", path, je.text);
    *n_seq = (int)json_array_size(j);
    *lens = malloc(sizeof(int) * *n_seq);
    size_t total = 0;
    for (int s = 0; s < *n_seq; s++) total += json_array_size(json_array_get(j, s));
    int32_t *ids = malloc(sizeof(int32_t) * (total ? total : 1));
    size_t k = 0;
    for (int s = 0; s < *n_seq; s++) {
        json_t *a = json_array_get(j, s);
        (*lens)[s] = (int)json_array_size(a);
        for (size_t i = 0; i < json_array_size(a); i++)
            ids[k++] = (int32_t)json_integer_value(json_array_get(a, i));
    }
    *T = (int)total;
    json_decref(j);
    return ids;
}

static const char *const fixtures[] = {
    "tiny-llama", "tiny-llama-cut", "tiny-mistral", "tiny-qwen2",
    "tiny-qwen3", "tiny-llama3rope", "aidreams260K",
};

typedef struct fx {
    char dir[512];
    lr_checkpoint *ck;
    int32_t *ids;
    int *lens, n_seq, T;
    ref_file ref;
    double *hidden, *last, *lastn, *mean;
} fx;

static bool fx_load(fx *f, const char *name)
{
    char rel[256], buf[600];
    snprintf(rel, sizeof rel, "fixtures/%s", name);
    if (!shared_path(f->dir, sizeof f->dir, rel)) return false;
    lr_error e;
    f->ck = lr_checkpoint_load(f->dir, &e);
    ck_assert_msg(f->ck != NULL, "%s: %s", name, e.msg);
    snprintf(buf, sizeof buf, "%s/ref-ids.json", f->dir);
    f->ids = load_ids(buf, &f->lens, &f->n_seq, &f->T);
    snprintf(buf, sizeof buf, "%s/ref-forward.safetensors", f->dir);
    ck_assert_int_eq(ref_open(&f->ref, buf), 0);
    size_t n;
    int H = f->ck->cfg.hidden;
    f->hidden = ref_get(&f->ref, "hidden", &n);
    ck_assert_uint_eq(n, (size_t)f->T * H);
    f->last = ref_get(&f->ref, "last", &n);
    f->lastn = ref_get(&f->ref, "last_normalized", &n);
    f->mean = ref_get(&f->ref, "mean", &n);
    ck_assert_uint_eq(n, (size_t)f->n_seq * H);
    return true;
}

static void fx_free(fx *f)
{
    free(f->ids);
    free(f->lens);
    free(f->hidden);
    free(f->last);
    free(f->lastn);
    free(f->mean);
    ref_close(&f->ref);
    lr_checkpoint_free(f->ck);
}

/* Pack the sequences in a permuted order, run the forward, and compare
 * hidden states (back in reference order) and pooled vectors. */
static void check_forward(fx *f, lr_model *m, const int *perm, const char *what)
{
    const int H = f->ck->cfg.hidden, n = f->n_seq;
    int *start = malloc(sizeof(int) * (n + 1)), *lens = malloc(sizeof(int) * n);
    start[0] = 0;
    for (int s = 0; s < n; s++) start[s + 1] = start[s] + f->lens[s];
    int32_t *ids = malloc(sizeof(int32_t) * (f->T ? f->T : 1));
    ck_assert(start && lens && ids);
    int k = 0;
    for (int s = 0; s < n; s++) {
        lens[s] = f->lens[perm[s]];
        memcpy(ids + k, f->ids + start[perm[s]], sizeof(int32_t) * lens[s]);
        k += lens[s];
    }
    float *hidden = malloc(sizeof(float) * f->T * H);
    lr_error e;
    ck_assert_msg(lr_model_forward(m, ids, lens, n, hidden, NULL, &e) == 0, "%s", e.msg);
    /* unpermute */
    float *h2 = malloc(sizeof(float) * f->T * H);
    k = 0;
    for (int s = 0; s < n; s++) {
        memcpy(h2 + (size_t)start[perm[s]] * H, hidden + (size_t)k * H, sizeof(float) * lens[s] * H);
        k += lens[s];
    }
    double err = measured("hidden", what, rel_err_f32_f64(h2, f->hidden, (size_t)f->T * H));
    ck_assert_msg(err < TOL_HIDDEN, "%s: hidden rel err %g", what, err);
    float *pooled = malloc(sizeof(float) * n * H);
    const struct { lr_pooling p; bool norm; const double *ref; const char *name; } pools[] = {
        {LR_POOL_LAST, false, f->last, "last"},
        {LR_POOL_LAST, true, f->lastn, "last_normalized"},
        {LR_POOL_MEAN, false, f->mean, "mean"},
    };
    for (size_t i = 0; i < LR_ARRAY_LEN(pools); i++) {
        lr_pool(h2, f->lens, n, H, pools[i].p, pools[i].norm, pooled);
        err = measured("pooled", what, rel_err_f32_f64(pooled, pools[i].ref, (size_t)n * H));
        ck_assert_msg(err < TOL_HIDDEN, "%s: %s rel err %g", what, pools[i].name, err);
    }
    free(pooled);
    free(h2);
    free(hidden);
    free(ids);
    free(lens);
    free(start);
}

/* importance and channel statistics against the reference */
static void check_stats(fx *f, const lr_stats *st, const char *what)
{
    size_t n;
    double *imp = ref_get(&f->ref, "importance", &n);
    ck_assert_uint_eq(n, (size_t)2 * st->n_layers);
    ck_assert_int_eq(st->tokens, f->T);
    double rmax = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(imp[i])) rmax = fmax(rmax, fabs(imp[i]));
    for (int l = 0; l < st->n_layers; l++) {
        const lr_layer_layout *lay = &f->ck->layers[l];
        for (int j = 0; j < 2; j++) {
            bool present = j == 0 ? lay->attn : lay->mlp > 0;
            double ref = imp[2 * l + j];
            ck_assert_msg(present == !isnan(ref), "%s: layer %d sublayer %d presence", what, l, j);
            if (!present) continue;
            double got = 1.0 - (j == 0 ? st->attn_cos[l] : st->mlp_cos[l]) / st->tokens;
            measured("importance", what, fabs(got - ref) / rmax);
            ck_assert_msg(fabs(got - ref) <= TOL_IMPORTANCE * rmax, "%s: importance[%d][%d] %g, ref %g",
                          what, l, j, got, ref);
        }
        char name[64];
        snprintf(name, sizeof name, "layer%d.mlp_act_absmean", l);
        double *am = ref_get(&f->ref, name, &n);
        ck_assert_msg((am != NULL) == (lay->mlp > 0), "%s: %s presence", what, name);
        if (!am) continue;
        ck_assert_uint_eq(n, (size_t)st->mlp_width[l]);
        snprintf(name, sizeof name, "layer%d.mlp_act_l2", l);
        double *l2 = ref_get(&f->ref, name, &n);
        float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
        for (size_t c = 0; c < n; c++) {
            a[c] = (float)(st->act_abs[l][c] / st->tokens);
            b[c] = (float)sqrt(st->act_sq[l][c]);
        }
        double e1 = measured("act_absmean", what, rel_err_f32_f64(a, am, n));
        double e2 = measured("act_l2", what, rel_err_f32_f64(b, l2, n));
        ck_assert_msg(e1 < TOL_ACT && e2 < TOL_ACT, "%s: layer %d absmean err %g, l2 err %g", what, l, e1,
                      e2);
        free(a);
        free(b);
        free(am);
        free(l2);
    }
    free(imp);
}

START_TEST(test_fixture)
{
    fx f = {0};
    if (!fx_load(&f, fixtures[_i])) return;
    const int n = f.n_seq;
    int *ident = malloc(sizeof(int) * n), *rev = malloc(sizeof(int) * n);
    for (int s = 0; s < n; s++) ident[s] = s, rev[s] = n - 1 - s;
    lr_error e;
    lr_model *m = lr_model_new(f.ck, &e);
    ck_assert_msg(m != NULL, "%s: %s", fixtures[_i], e.msg);
    char what[128];
    for (int threads = 1; threads <= 2; threads++) {
        lr_threads_init(threads);
        /* direct attention for all, GEMM attention for all */
        for (int path = 0; path < 2; path++) {
            m->attn_gemm_min = path ? 1 : 1 << 30;
            snprintf(what, sizeof what, "%s, %d thread(s), %s attention", fixtures[_i], threads,
                     path ? "GEMM" : "direct");
            check_forward(&f, m, ident, what);
            check_forward(&f, m, rev, what);
        }
        /* one sequence at a time */
        m->attn_gemm_min = 96;
        float *h = malloc(sizeof(float) * f.T * f.ck->cfg.hidden);
        int off = 0;
        for (int s = 0; s < n; s++) {
            ck_assert_int_eq(lr_model_forward(m, f.ids + off, &f.lens[s], 1,
                                              h + (size_t)off * f.ck->cfg.hidden, NULL, &e), 0);
            off += f.lens[s];
        }
        double err = measured("hidden", fixtures[_i], rel_err_f32_f64(h, f.hidden, (size_t)f.T * f.ck->cfg.hidden));
        ck_assert_msg(err < TOL_HIDDEN, "%s: one at a time: rel err %g", fixtures[_i], err);
        free(h);
        /* statistics, accumulated over two halves of the batch */
        lr_stats *st = lr_stats_new(f.ck);
        int half = n / 2, t_half = 0;
        for (int s = 0; s < half; s++) t_half += f.lens[s];
        ck_assert_int_eq(lr_model_forward(m, f.ids, f.lens, half, NULL, st, &e), 0);
        ck_assert_int_eq(lr_model_forward(m, f.ids + t_half, f.lens + half, n - half, NULL, st, &e), 0);
        snprintf(what, sizeof what, "%s, %d thread(s), stats", fixtures[_i], threads);
        check_stats(&f, st, what);
        lr_stats_free(st);
    }
    lr_model_free(m);
    free(ident);
    free(rev);
    fx_free(&f);
}
END_TEST

/* cosine of a float vector with a double one */
static double cos_fd(const float *a, const double *r, int n)
{
    double ab = 0, aa = 0, rr = 0;
    for (int i = 0; i < n; i++) {
        ab += a[i] * r[i];
        aa += (double)a[i] * a[i];
        rr += r[i] * r[i];
    }
    return ab / sqrt(aa * rr);
}

/* bf16 and int8 projections: every text's pooled vector (last token and
 * mean) against the float64 reference, cosine >= 0.999 (bf16), 0.995
 * (int8).  Skips a precision the CPU lacks, saying so. */
START_TEST(test_precision)
{
    fx f = {0};
    if (!fx_load(&f, fixtures[_i])) return;
    const int H = f.ck->cfg.hidden, n = f.n_seq;
    float *hidden = malloc(sizeof(float) * f.T * H), *pooled = malloc(sizeof(float) * n * H);
    lr_threads_init(2);
    for (lr_precision p = LR_PREC_BF16; p <= LR_PREC_INT8; p++) {
        if (!lr_precision_supported(p)) {
            fprintf(stderr, "note: this CPU does not run %s: not tested\n", lr_precision_name(p));
            continue;
        }
        const double min_cos = p == LR_PREC_BF16 ? 0.999 : 0.995;
        lr_error e;
        lr_model *m = lr_model_new(f.ck, &e);
        ck_assert_msg(m != NULL, "%s", e.msg);
        ck_assert_int_eq(lr_model_set_precision(m, p, &e), 0);
        ck_assert_int_eq(lr_model_precision(m), p);
        ck_assert_int_eq(lr_model_forward(m, f.ids, f.lens, n, hidden, NULL, &e), 0);
        for (int pool = 0; pool < 2; pool++) {
            lr_pool(hidden, f.lens, n, H, pool ? LR_POOL_MEAN : LR_POOL_LAST, false, pooled);
            const double *ref = pool ? f.mean : f.last;
            for (int s = 0; s < n; s++) {
                double c = cos_fd(pooled + (size_t)s * H, ref + (size_t)s * H, H);
                ck_assert_msg(c >= min_cos, "%s, %s, %s pooling, text %d: cosine %.5f < %.3f",
                              fixtures[_i], lr_precision_name(p), pool ? "mean" : "last", s, c,
                              min_cos);
            }
        }
        lr_model_free(m);
    }
    free(hidden);
    free(pooled);
    fx_free(&f);
}
END_TEST

/* float round to bf16 as the kernels do (round to nearest even) */
static double bf16_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u = (u + 0x7fffu + ((u >> 16) & 1)) & 0xffff0000u;
    memcpy(&f, &u, 4);
    return f;
}

/* The thin products of the LoRA backward against double sums, on shapes
 * off every block size (rows of 8, tiles of 16, slabs of 256), on one
 * thread and two, AVX-512 and portable; lr_thin_tmm adds to G. */
START_TEST(test_thin)
{
    static const int shape[][3] = {{1, 5, 16}, {7, 37, 16}, {13, 16, 32}, {300, 192, 16}, {530, 45, 48}};
    lr_rng rng;
    lr_rng_seed(&rng, 1);
    for (int run = 0; run < 4; run++) {
        const int threads = 1 + run % 2;
        lr_threads_init(threads);
        lr_thin_portable(run >= 2);
        for (size_t si = 0; si < LR_ARRAY_LEN(shape); si++) {
            const int T = shape[si][0], n = shape[si][1], rp = shape[si][2], ldx = n + 3;
            float *x = malloc(sizeof(float) * T * ldx), *m = malloc(sizeof(float) * n * rp);
            float *y = malloc(sizeof(float) * T * rp), *out = malloc(sizeof(float) * T * rp);
            float *g = malloc(sizeof(float) * n * rp);
            for (int i = 0; i < T * ldx; i++) x[i] = (float)(lr_rng_uniform(&rng) - 0.5);
            for (int i = 0; i < n * rp; i++) m[i] = (float)(lr_rng_uniform(&rng) - 0.5);
            for (int i = 0; i < T * rp; i++) y[i] = (float)(lr_rng_uniform(&rng) - 0.5);
            for (int i = 0; i < n * rp; i++) g[i] = (float)i / (n * rp);
            lr_thin_mm(T, n, x, ldx, m, rp, out);
            lr_thin_tmm(T, n, x, ldx, y, rp, g);
            double emax = 0;
            for (int t = 0; t < T; t++)
                for (int k = 0; k < rp; k++) {
                    double want = 0;
                    for (int i = 0; i < n; i++) want += (double)x[t * ldx + i] * m[i * rp + k];
                    emax = fmax(emax, fabs(out[t * rp + k] - want));
                }
            for (int i = 0; i < n; i++)
                for (int k = 0; k < rp; k++) {
                    double want = (double)(float)((double)(i * rp + k) / (n * rp));
                    for (int t = 0; t < T; t++) want += (double)x[t * ldx + i] * y[t * rp + k];
                    emax = fmax(emax, fabs(g[i * rp + k] - want));
                }
            ck_assert_msg(emax < 1e-4, "T %d n %d rp %d, %d threads%s: max error %g", T, n, rp, threads,
                          run >= 2 ? ", portable" : "", emax);
            free(x), free(m), free(y), free(out), free(g);
        }
    }
    lr_thin_portable(false);
}
END_TEST

/* lr_qgemm against the same quantisation done in double by the naive
 * loop: bf16 rounding of both operands; int8 with per-row weight scales
 * (max |w| / 127, rounded to nearest even) and per-token activation
 * scales (max |x| / 127, rounded half away from zero).  Shapes with edges
 * (rows not a multiple of 12, columns not of 32, k not of 4, k cut into
 * blocks), beta 0 and 1, one thread and two. */
START_TEST(test_qgemm)
{
    static const int shape[][3] = {{1, 32, 64}, {13, 45, 37}, {50, 130, 901}, {30, 40, 3100}};
    for (lr_precision p = LR_PREC_BF16; p <= LR_PREC_INT8; p++) {
        if (!lr_precision_supported(p)) {
            fprintf(stderr, "note: this CPU does not run %s: not tested\n", lr_precision_name(p));
            continue;
        }
        for (size_t si = 0; si < LR_ARRAY_LEN(shape); si++) {
            const int m = shape[si][0], n = shape[si][1], k = shape[si][2];
            float *x = malloc(sizeof(float) * m * k), *w = malloc(sizeof(float) * n * k);
            float *y = malloc(sizeof(float) * m * n);
            double *xq = malloc(sizeof(double) * m * k), *wq = malloc(sizeof(double) * n * k);
            uint32_t st = 12345;
            for (long i = 0; i < (long)m * k; i++) {
                st = st * 1664525u + 1013904223u;
                x[i] = (float)(st >> 8) / (1 << 24) * 2 - 1;
            }
            for (long i = 0; i < (long)n * k; i++) {
                st = st * 1664525u + 1013904223u;
                w[i] = ((float)(st >> 8) / (1 << 24) * 2 - 1) * 0.1f;
            }
            x[5 % (m * k)] = 9.0f;   /* an outlier */
            /* the quantised operands, in double */
            for (int pass = 0; pass < 2; pass++) {
                const float *src = pass ? w : x;
                double *dst = pass ? wq : xq;
                int rows = pass ? n : m;
                for (int r = 0; r < rows; r++) {
                    const float *row = src + (size_t)r * k;
                    float mx = 0;
                    for (int c = 0; c < k; c++) mx = fmaxf(mx, fabsf(row[c]));
                    float inv = mx > 0 ? 127.0f / mx : 0;
                    for (int c = 0; c < k; c++) {
                        if (p == LR_PREC_BF16) {
                            dst[(size_t)r * k + c] = bf16_of(row[c]);
                            continue;
                        }
                        float v = row[c] * inv;
                        double q = pass ? nearbyintf(v) : roundf(v);
                        dst[(size_t)r * k + c] = q * (mx / 127.0f);
                    }
                }
            }
            lr_tensor t = {.dtype = LR_F32, .ndim = 2, .shape = {n, k}, .data = w};
            lr_qmat *q = lr_qmat_new(p, &t);
            for (int threads = 1; threads <= 2; threads++)
                for (int beta = 0; beta < 2; beta++) {
                    lr_threads_init(threads);
                    for (long i = 0; i < (long)m * n; i++) y[i] = 0.25f;
                    lr_qgemm(q, x, m, y, (float)beta);
                    double emax = 0, rmax = 0;
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < n; j++) {
                            double r = 0;
                            for (int c = 0; c < k; c++)
                                r += xq[(size_t)i * k + c] * wq[(size_t)j * k + c];
                            rmax = fmax(rmax, fabs(r));
                            emax = fmax(emax, fabs(y[(size_t)i * n + j] - 0.25 * beta - r));
                        }
                    ck_assert_msg(emax <= 1e-5 * rmax, "%s %dx%dx%d, %d thread(s), beta %d: "
                                  "max error %g of %g", lr_precision_name(p), m, n, k, threads,
                                  beta, emax, rmax);
                }
            lr_qmat_free(q);
            free(x), free(w), free(y), free(xq), free(wq);
        }
    }
}
END_TEST

/* lr_bgemm (training's bf16 products) against the naive product of the
 * bf16-rounded operands in double: every transposition, leading
 * dimensions wider than the rows, odd k, edges of every block, beta 0
 * and 1, one thread and two. */
START_TEST(test_bgemm)
{
    if (!lr_precision_supported(LR_PREC_BF16)) {
        fprintf(stderr, "note: this CPU does not run bf16: not tested\n");
        return;
    }
    static const int shape[][3] = {{1, 1, 1}, {13, 45, 37}, {50, 130, 901}, {30, 40, 3100}, {97, 33, 2}};
    uint32_t st = 777;
    for (size_t si = 0; si < LR_ARRAY_LEN(shape); si++)
    for (int tr = 0; tr < 4; tr++) {
        const int m = shape[si][0], n = shape[si][1], k = shape[si][2];
        const bool ta = tr & 1, tb = tr & 2;
        /* stored shapes: A m x k (or k x m), B k x n (or n x k), each row padded by 3 */
        const int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 3, ldc = n + 5;
        const size_t na = (size_t)(ta ? k : m) * lda, nb = (size_t)(tb ? n : k) * ldb;
        float *a = malloc(sizeof(float) * na), *b = malloc(sizeof(float) * nb);
        float *c = malloc(sizeof(float) * (size_t)m * ldc);
        for (size_t i = 0; i < na; i++) {
            st = st * 1664525u + 1013904223u;
            a[i] = (float)(st >> 8) / (1 << 24) * 2 - 1;
        }
        for (size_t i = 0; i < nb; i++) {
            st = st * 1664525u + 1013904223u;
            b[i] = ((float)(st >> 8) / (1 << 24) * 2 - 1) * 0.1f;
        }
        for (int threads = 1; threads <= 2; threads++)
            for (int beta = 0; beta < 2; beta++) {
                lr_threads_init(threads);
                for (size_t i = 0; i < (size_t)m * ldc; i++) c[i] = 0.25f;
                lr_bgemm(ta, tb, m, n, k, a, lda, b, ldb, (float)beta, c, ldc);
                double emax = 0, rmax = 0;
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        double r = 0;
                        for (int p = 0; p < k; p++)
                            r += (double)bf16_of(ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p]) *
                                 bf16_of(tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j]);
                        rmax = fmax(rmax, fabs(r));
                        emax = fmax(emax, fabs(c[(size_t)i * ldc + j] - 0.25 * beta - r));
                    }
                /* and nothing past column n */
                for (int i = 0; i < m; i++)
                    for (int j = n; j < ldc; j++) ck_assert(c[(size_t)i * ldc + j] == 0.25f);
                ck_assert_msg(emax <= 1e-5 * fmax(rmax, 1e-3), "%dx%dx%d, trans %d%d, %d thread(s), beta %d: "
                              "max error %g of %g", m, n, k, ta, tb, threads, beta, emax, rmax);
            }
        free(a), free(b), free(c);
    }
}
END_TEST

/* The cached forward (and the trainable model) agree with the reference;
 * recomputed attention probabilities are distributions over visible keys. */
START_TEST(test_cache)
{
    fx f = {0};
    if (!fx_load(&f, fixtures[_i])) return;
    lr_threads_init(2);
    lr_error e;
    lr_model *m = lr_model_new_trainable(f.ck, &e);
    ck_assert_msg(m != NULL, "%s", e.msg);
    lr_fwd_cache *c = lr_fwd_cache_new();
    lr_stats *st = lr_stats_new(f.ck);
    for (int rep = 0; rep < 2; rep++) {   /* the second run reuses the arena */
        ck_assert_int_eq(lr_model_forward_cached(m, f.ids, f.lens, f.n_seq, c, rep ? NULL : st, &e), 0);
        const int H = f.ck->cfg.hidden;
        double err = measured("hidden", fixtures[_i], rel_err_f32_f64(c->hidden, f.hidden, (size_t)f.T * H));
        ck_assert_msg(err < TOL_HIDDEN, "%s: cached forward: rel err %g", fixtures[_i], err);
    }
    check_stats(&f, st, fixtures[_i]);
    /* attention rows sum to one, nothing outside the causal window */
    int s = f.n_seq - 1, L = f.lens[s];
    for (int l = 0; l < m->n_layers; l++) {
        if (!m->layers[l].attn) {
            ck_assert_ptr_null(c->layers[l].att);
            continue;
        }
        float *P = malloc(sizeof(float) * L * L);
        lr_attention_probs(m, c, l, s, m->nh - 1, 0, L, P);
        for (int i = 0; i < L; i++) {
            double sum = 0;
            for (int j = 0; j < L; j++) {
                if (j > i) ck_assert(P[i * L + j] == 0);
                sum += P[i * L + j];
            }
            ck_assert_msg(fabs(sum - 1) < 1e-5, "layer %d row %d sums to %g", l, i, sum);
        }
        free(P);
    }
    /* parameters: every tensor of the checkpoint, once */
    lr_model_param *p;
    int np = lr_model_params(m, &p);
    size_t expect = f.ck->n_tensors;
    ck_assert_int_eq(np, (int)expect);
    for (int i = 0; i < np; i++) ck_assert_ptr_nonnull(lr_checkpoint_tensor(f.ck, p[i].name));
    lr_stats_free(st);
    lr_fwd_cache_free(c);
    lr_model_free(m);
    fx_free(&f);
}
END_TEST

/* GEMM attention (query blocks, stacked GQA heads) and direct attention
 * agree with a naive float64 attention, with and without a sliding window
 * shorter than the sequences */
START_TEST(test_attention)
{
    fx f = {0};
    if (!fx_load(&f, "tiny-mistral")) return;
    lr_threads_init(2);
    lr_error e;
    lr_model *m = lr_model_new(f.ck, &e);
    ck_assert_ptr_nonnull(m);
    m->window = _i ? 0 : 5;
    /* a middle sequence short enough for one query block, but longer than
     * a block of the long ones: the GEMM buffer must fit both */
    const int hd = m->hd, nh = m->nh, nkv = m->nkv, L = 150, M = 120, T = 2 * L + M, W = m->window;
    const int lens[] = {L, M, L};
    int starts[] = {0, L, L + M, T};
    float *q = malloc(sizeof(float) * T * m->qdim), *k = malloc(sizeof(float) * T * m->kvdim);
    float *v = malloc(sizeof(float) * T * m->kvdim);
    for (int i = 0; i < T * m->qdim; i++) q[i] = sinf(i * 0.7f);
    for (int i = 0; i < T * m->kvdim; i++) k[i] = cosf(i * 0.3f), v[i] = sinf(i * 0.11f + 1);
    float *a1 = malloc(sizeof(float) * T * m->qdim), *a2 = malloc(sizeof(float) * T * m->qdim);
    float *l1 = malloc(sizeof(float) * T * nh), *l2 = malloc(sizeof(float) * T * nh);
    m->attn_gemm_min = 1 << 30;
    lr_attention(m, q, k, v, starts, 3, a1, l1);
    m->attn_gemm_min = 1;
    lr_attention(m, q, k, v, starts, 3, a2, l2);
    double *ref = malloc(sizeof(double) * T * m->qdim), *sc = malloc(sizeof(double) * L);
    for (int s = 0; s < 3; s++)
        for (int h = 0; h < nh; h++)
            for (int i = 0; i < lens[s]; i++) {
                int t = starts[s] + i, g = h / (nh / nkv);
                double mx = -1e300, sum = 0;
                int lo = W && i - W + 1 > 0 ? i - W + 1 : 0;
                for (int j = lo; j <= i; j++) {
                    double d = 0;
                    for (int x = 0; x < hd; x++)
                        d += (double)q[t * m->qdim + h * hd + x] * k[(starts[s] + j) * m->kvdim + g * hd + x];
                    sc[j - lo] = d / sqrt(hd);
                    mx = fmax(mx, sc[j - lo]);
                }
                for (int j = lo; j <= i; j++) sum += sc[j - lo] = exp(sc[j - lo] - mx);
                for (int x = 0; x < hd; x++) {
                    double o = 0;
                    for (int j = lo; j <= i; j++)
                        o += sc[j - lo] / sum * v[(starts[s] + j) * m->kvdim + g * hd + x];
                    ref[t * m->qdim + h * hd + x] = o;
                }
                ck_assert_msg(fabs(l1[t * nh + h] - (mx + log(sum))) < 1e-4, "lse");
                ck_assert_msg(fabs(l2[t * nh + h] - (mx + log(sum))) < 1e-4, "lse (GEMM)");
            }
    double e1 = rel_err_f32_f64(a1, ref, (size_t)T * m->qdim), e2 = rel_err_f32_f64(a2, ref, (size_t)T * m->qdim);
    ck_assert_msg(e1 < 1e-5 && e2 < 1e-5, "window %d: direct %g, GEMM %g", W, e1, e2);
    free(q), free(k), free(v), free(a1), free(a2), free(l1), free(l2), free(ref), free(sc);
    lr_model_free(m);
    fx_free(&f);
}
END_TEST

START_TEST(test_bad_ids)
{
    fx f = {0};
    if (!fx_load(&f, "tiny-llama")) return;
    lr_error e;
    lr_model *m = lr_model_new(f.ck, &e);
    int32_t ids[] = {1, 2, 99999};
    int lens[] = {3};
    ck_assert_int_eq(lr_model_forward(m, ids, lens, 1, NULL, NULL, &e), -1);
    ck_assert_msg(strstr(e.msg, "99999") != NULL, "%s", e.msg);
    int zero[] = {0};
    ck_assert_int_eq(lr_model_forward(m, ids, zero, 1, NULL, NULL, &e), -1);
    ck_assert_int_eq(lr_model_forward(m, ids, lens, 0, NULL, NULL, &e), 0);
    lr_model_free(m);
    fx_free(&f);
}
END_TEST

START_TEST(test_pool)
{
    float h[] = {1, 0, 3, 4, 0, 2, 5, 5, 6, 8};
    int lens[] = {2, 3};
    float out[4];
    lr_pool(h, lens, 2, 2, LR_POOL_LAST, false, out);
    ck_assert(out[0] == 3 && out[1] == 4 && out[2] == 6 && out[3] == 8);
    lr_pool(h, lens, 2, 2, LR_POOL_LAST, true, out);
    ck_assert(fabsf(out[0] - 0.6f) < 1e-6 && fabsf(out[1] - 0.8f) < 1e-6);
    lr_pool(h, lens, 2, 2, LR_POOL_MEAN, false, out);
    ck_assert(out[0] == 2 && out[1] == 2 && out[2] == 11.0f / 3 && out[3] == 5);
    lr_pooling p;
    ck_assert_int_eq(lr_pooling_parse("mean", &p), 0);
    ck_assert_int_eq(p, LR_POOL_MEAN);
    ck_assert_int_eq(lr_pooling_parse("max", &p), -1);
    ck_assert_str_eq(lr_pooling_name(LR_POOL_LAST), "last");
}
END_TEST

/* the vectorised exp against libm */
START_TEST(test_expf)
{
    double worst = 0;
    for (float x = -87.0f; x < 88.0f; x += 0.0137f) {
        double r = fabs(lr_expf(x) - exp(x)) / exp(x);
        worst = fmax(worst, r);
    }
    ck_assert_msg(worst < 2e-7, "worst relative error %g", worst);
    ck_assert(lr_expf(-1000.0f) < 1e-37f);
}
END_TEST


/* ------------------------------------------------------------------ */
/* text inputs and retrieval settings */

static char *write_tmp(const char *name, const char *content)
{
    static char dir[64];
    if (!dir[0]) {
        strcpy(dir, "/tmp/lr-test-fwd-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(dir));
    }
    char *path = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(content, f);
    fclose(f);
    return path;
}

START_TEST(test_text_jsonl)
{
    char *p = write_tmp("corpus.jsonl",
                        "{\"_id\": \"d1\", \"title\": \"T\", \"text\": \"body one\"}\n"
                        "\n"
                        "{\"_id\": 42, \"title\": \"\", \"text\": \"caf\\u00e9\\ttab\"}\r\n"
                        "{\"_id\": \"d3\", \"text\": \"no title\", \"metadata\": {}}\n");
    lr_error e;
    lr_text_reader *r = lr_text_open(p, &e);
    ck_assert_ptr_nonnull(r);
    lr_text t;
    ck_assert_int_eq(lr_text_next(r, &t, &e), 1);
    ck_assert_str_eq(t.id, "d1");
    ck_assert_str_eq(t.text, "T body one");
    ck_assert_uint_eq(t.len, 10);
    ck_assert_int_eq(lr_text_next(r, &t, &e), 1);
    ck_assert_str_eq(t.id, "42");
    ck_assert_str_eq(t.text, "caf\xc3\xa9\ttab");
    ck_assert_int_eq(lr_text_line(r), 3);
    ck_assert_int_eq(lr_text_next(r, &t, &e), 1);
    ck_assert_str_eq(t.text, "no title");
    ck_assert_int_eq(lr_text_next(r, &t, &e), 0);
    lr_text_close(r);
    free(p);
}
END_TEST

START_TEST(test_text_tsv)
{
    char *p = write_tmp("q.txt", "q1\twhat is it?\nq2\tsecond\tcolumn\n");
    lr_error e;
    lr_text_reader *r = lr_text_open(p, &e);
    lr_text t;
    ck_assert_int_eq(lr_text_next(r, &t, &e), 1);
    ck_assert_str_eq(t.id, "q1");
    ck_assert_str_eq(t.text, "what is it?");
    ck_assert_int_eq(lr_text_next(r, &t, &e), 1);
    ck_assert_str_eq(t.text, "second\tcolumn");
    ck_assert_int_eq(lr_text_next(r, &t, &e), 0);
    lr_text_close(r);
    free(p);
}
END_TEST

static void expect_text_error(const char *name, const char *content, const char *pattern)
{
    char *p = write_tmp(name, content);
    lr_error e;
    lr_text_reader *r = lr_text_open(p, &e);
    ck_assert_ptr_nonnull(r);
    lr_text t;
    int rc;
    while ((rc = lr_text_next(r, &t, &e)) == 1) continue;
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(e.msg, pattern) && strstr(e.msg, name), "'%s' lacks '%s'", e.msg, pattern);
    lr_text_close(r);
    free(p);
}

START_TEST(test_text_errors)
{
    expect_text_error("a.jsonl", "{\"_id\": \"1\", \"text\": \"x\"}\n{\"_id\": \"2\", \"text\": \n",
                      "line 2: invalid JSON");
    expect_text_error("b.jsonl", "{\"title\": \"x\", \"text\": \"y\"}\n", "line 1: no \"_id\"");
    expect_text_error("c.jsonl", "{\"_id\": \"1\"}\n", "line 1: no \"text\"");
    expect_text_error("d.jsonl", "[1, 2]\n", "line 1: expected a JSON object");
    expect_text_error("e.tsv", "a\tb\nno tab here\n", "line 2: expected id<TAB>text");
    expect_text_error("f.jsonl", "{\"_id\": \"1\", \"text\": 5}\n", "line 1: \"text\" is not a string");
    lr_error e;
    ck_assert_ptr_null(lr_text_open("/nonexistent/x.jsonl", &e));
    ck_assert_msg(strstr(e.msg, "/nonexistent/x.jsonl"), "%s", e.msg);
}
END_TEST

START_TEST(test_retrieval)
{
    fx f = {0};
    if (!fx_load(&f, "tiny-mistral")) return;
    lr_error e;
    lr_retrieval r;
    ck_assert_int_eq(lr_retrieval_from_checkpoint(f.ck, &r, &e), 0);
    ck_assert(r.pooling == LR_POOL_LAST && r.normalize && r.append_eos && r.max_tokens == 512);
    ck_assert_str_eq(r.query_prefix, "");
    lr_tokenizer *t = lr_tokenizer_from_checkpoint(f.ck, &e);
    ck_assert_msg(t != NULL, "%s", e.msg);
    lr_ids ids = {0};
    /* BOS + text + EOS; truncation keeps EOS last */
    ck_assert_int_eq(lr_encode_text(t, &r, false, "Hello world", 11, &ids, &e), 0);
    ck_assert_int_eq(ids.n, 4);
    ck_assert_int_eq(ids.ids[0], 1);
    ck_assert_int_eq(ids.ids[1], 22557);
    ck_assert_int_eq(ids.ids[3], 2);
    r.max_tokens = 2;
    ck_assert_int_eq(lr_encode_text(t, &r, false, "Hello world", 11, &ids, &e), 0);
    ck_assert_int_eq(ids.n, 2);
    ck_assert_int_eq(ids.ids[0], 1);
    ck_assert_int_eq(ids.ids[1], 2);
    r.append_eos = false;
    ck_assert_int_eq(lr_encode_text(t, &r, false, "Hello world", 11, &ids, &e), 0);
    ck_assert_int_eq(ids.n, 2);
    ck_assert_int_eq(ids.ids[1], 22557);
    /* prefixes: queries only get the query prefix */
    r.max_tokens = 512;
    free(r.query_prefix);
    r.query_prefix = strdup("Hello ");
    ck_assert_int_eq(lr_encode_text(t, &r, true, "world", 5, &ids, &e), 0);
    ck_assert_int_eq(ids.n, 3);
    ck_assert_int_eq(ids.ids[1], 22557);
    ck_assert_int_eq(lr_encode_text(t, &r, false, "world", 5, &ids, &e), 0);
    ck_assert_int_ne(ids.ids[1], 22557);
    /* lr.json round trip */
    r.pooling = LR_POOL_MEAN;
    r.normalize = false;
    r.max_tokens = 77;
    lr_retrieval_to_checkpoint(f.ck, &r);
    lr_retrieval r2;
    ck_assert_int_eq(lr_retrieval_from_checkpoint(f.ck, &r2, &e), 0);
    ck_assert(r2.pooling == LR_POOL_MEAN && !r2.normalize && !r2.append_eos && r2.max_tokens == 77);
    ck_assert_str_eq(r2.query_prefix, "Hello ");
    lr_retrieval_free(&r2);
    /* a bad value is named */
    json_object_set_new(json_object_get(f.ck->lr_json, "retrieval"), "pooling", json_string("max"));
    ck_assert_int_eq(lr_retrieval_from_checkpoint(f.ck, &r2, &e), -1);
    ck_assert_msg(strstr(e.msg, "retrieval.pooling"), "%s", e.msg);
    free(ids.ids);
    lr_retrieval_free(&r);
    lr_tokenizer_free(t);
    fx_free(&f);
}
END_TEST

/* End to end: lr-encode over golden texts gives the final-norm hidden
 * state of the last of the golden ids (special tokens included). */
START_TEST(test_encode_golden)
{
    char gold[512], fxdir[512];
    const char *bin = getenv("LR_BIN");
    if (!shared_path(gold, sizeof gold, "tokenizers/mistral/golden.jsonl") ||
        !shared_path(fxdir, sizeof fxdir, "fixtures/tiny-mistral"))
        return;
    ck_assert_msg(bin != NULL, "LR_BIN unset: run through make check, or set it to the built bin/");
    enum { N = 20 };
    const char *dummy_id;
    FILE *g = fopen(gold, "r");
    ck_assert_ptr_nonnull(g);
    size_t cap = 1 << 20;
    char *line = malloc(cap), *jsonl = malloc(1 << 20);
    size_t jl = 0;
    lr_ids golden[N] = {{0}};
    for (int i = 0; i < N; i++) {
        ck_assert_ptr_nonnull(fgets(line, (int)cap, g));
        json_t *j = json_loads(line, 0, NULL);
        ck_assert_ptr_nonnull(j);
        json_t *ids = json_object_get(j, "ids_special");
        for (size_t k = 0; k < json_array_size(ids); k++)
            lr_ids_push(&golden[i], (int32_t)json_integer_value(json_array_get(ids, k)));
        json_t *o = json_pack("{s:s, s:O}", "_id", "", "text", json_object_get(j, "text"));
        char id[16];
        snprintf(id, sizeof id, "g%d", i);
        json_object_set_new(o, "_id", json_string(id));
        char *s = json_dumps(o, JSON_COMPACT);
        jl += sprintf(jsonl + jl, "%s\n", s);
        free(s);
        json_decref(o);
        json_decref(j);
    }
    fclose(g);
    char *in = write_tmp("golden20.jsonl", jsonl);
    char out[600], cmd[2048];
    snprintf(out, sizeof out, "%s.mp", in);
    snprintf(cmd, sizeof cmd,
             "'%s/lr-encode' -q -m '%s' --queries '%s' --no-eos --pooling last --no-normalize "
             "--batch-tokens 24 -t 2 -o '%s'",
             bin, fxdir, in, out);
    ck_assert_int_eq(system(cmd), 0);
    lr_error e;
    lr_checkpoint *ck = lr_checkpoint_load(fxdir, &e);
    lr_model *m = lr_model_new(ck, &e);
    const int H = ck->cfg.hidden;
    FILE *fp = fopen(out, "rb");
    lr_emb_reader *rd = lr_emb_reader_open(fp, out, &e);
    ck_assert_msg(rd != NULL, "%s", e.msg);
    const lr_emb_header *h = lr_emb_reader_header(rd);
    ck_assert_int_eq(h->dim, H);
    ck_assert_str_eq(h->model, lr_checkpoint_digest(ck));
    ck_assert_str_eq(h->pooling, "last");
    ck_assert_str_eq(h->kind, "query");
    ck_assert(!h->normalized);
    float *vec = malloc(sizeof(float) * H);
    for (int i = 0; i < N; i++) {
        const char *id;
        ck_assert_int_eq(lr_emb_read(rd, &id, vec, &e), 1);
        char want[16];
        snprintf(want, sizeof want, "g%d", i);
        ck_assert_str_eq(id, want);   /* input order */
        int len = (int)golden[i].n;
        float *hid = malloc(sizeof(float) * len * H);
        ck_assert_int_eq(lr_model_forward(m, golden[i].ids, &len, 1, hid, NULL, &e), 0);
        double num = 0, den = 0;
        for (int k = 0; k < H; k++) {
            double d = fabs(vec[k] - hid[(size_t)(len - 1) * H + k]);
            num = fmax(num, d);
            den = fmax(den, fabs(hid[(size_t)(len - 1) * H + k]));
        }
        ck_assert_msg(num <= 1e-5 * den, "text %d: max diff %g (scale %g)", i, num, den);
        free(hid);
        free(golden[i].ids);
    }
    ck_assert_int_eq(lr_emb_read(rd, &dummy_id, vec, &e), 0);
    lr_emb_reader_close(rd);
    fclose(fp);
    /* an empty corpus is a valid stream with no records */
    char *empty = write_tmp("empty.jsonl", "");
    snprintf(cmd, sizeof cmd, "'%s/lr-encode' -q -m '%s' --corpus '%s' -o '%s'", bin, fxdir, empty,
             out);
    ck_assert_int_eq(system(cmd), 0);
    fp = fopen(out, "rb");
    rd = lr_emb_reader_open(fp, out, &e);
    ck_assert_msg(rd != NULL, "%s", e.msg);
    ck_assert_str_eq(lr_emb_reader_header(rd)->kind, "passage");
    ck_assert_int_eq(lr_emb_read(rd, &dummy_id, vec, &e), 0);
    lr_emb_reader_close(rd);
    fclose(fp);
    unlink(out);
    unlink(in);
    unlink(empty);
    free(empty);
    free(vec);
    free(in);
    free(line);
    free(jsonl);
    lr_model_free(m);
    lr_checkpoint_free(ck);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("forward");
    TCase *tc = tcase_create("forward");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_fixture, 0, LR_ARRAY_LEN(fixtures));
    tcase_add_loop_test(tc, test_cache, 0, LR_ARRAY_LEN(fixtures));
    tcase_add_loop_test(tc, test_precision, 0, LR_ARRAY_LEN(fixtures));
    tcase_add_test(tc, test_qgemm);
    tcase_add_test(tc, test_bgemm);
    tcase_add_test(tc, test_thin);
    tcase_add_loop_test(tc, test_attention, 0, 2);
    tcase_add_test(tc, test_bad_ids);
    tcase_add_test(tc, test_pool);
    tcase_add_test(tc, test_expf);
    tcase_add_test(tc, test_text_jsonl);
    tcase_add_test(tc, test_text_tsv);
    tcase_add_test(tc, test_text_errors);
    tcase_add_test(tc, test_retrieval);
    tcase_add_test(tc, test_encode_golden);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite_shared(suite());
}
