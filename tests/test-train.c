/* test-train.c - optimiser, schedules, losses, training data, and the
 * gradients of the trainable model against the fixtures' float64
 * references. */
#include "check-util.h"
#include "lr.h"
#include "internal.h"

#include <jansson.h>
#include <math.h>
#include <unistd.h>

#define LR_ARRAY_LEN_(a) ((int)(sizeof(a) / sizeof((a)[0])))

static lr_tparam make_param(const char *name, int64_t n, bool decay)
{
    lr_tparam p = {0};
    p.name = (char *)name;
    p.n = n;
    p.w = calloc((size_t)n, sizeof(float));
    p.g = calloc((size_t)n, sizeof(float));
    p.decay = decay;
    p.ndim = 1;
    p.shape[0] = n;
    return p;
}

static void free_param(lr_tparam *p)
{
    free(p->w), free(p->g), free(p->m), free(p->v);
}

/* ---------------- optimiser ---------------- */

START_TEST(test_adamw)
{
    /* reference: the AdamW update of Loshchilov & Hutter as PyTorch writes it */
    lr_tparam p[2] = {make_param("w", 3, true), make_param("b", 3, false)};
    double w[2][3], m[2][3] = {{0}}, v[2][3] = {{0}};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) p[i].w[j] = (float)(w[i][j] = 1.0 - 0.7 * j + 0.3 * i);
    lr_adamw o;
    lr_adamw_init(&o);
    o.weight_decay = 0.1;
    const double lr = 0.05;
    for (int step = 1; step <= 5; step++) {
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++) {
                double g = sin(step * 1.3 + j + 2 * i) * (j + 1);
                p[i].g[j] = (float)g;
                m[i][j] = 0.9 * m[i][j] + 0.1 * g;
                v[i][j] = 0.999 * v[i][j] + 0.001 * g * g;
                double mh = m[i][j] / (1 - pow(0.9, step)), vh = v[i][j] / (1 - pow(0.999, step));
                if (i == 0) w[i][j] *= 1 - lr * 0.1;
                w[i][j] -= lr * mh / (sqrt(vh) + 1e-8);
            }
        lr_adamw_step(&o, p, 2, lr);
    }
    ck_assert_int_eq(o.step, 5);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) ck_assert_double_eq_tol(p[i].w[j], w[i][j], 1e-5);
    free_param(&p[0]);
    free_param(&p[1]);
}
END_TEST

START_TEST(test_clip_schedule)
{
    lr_tparam p[2] = {make_param("a", 2, true), make_param("b", 1, true)};
    p[0].g[0] = 3, p[0].g[1] = 0, p[1].g[0] = 4;
    ck_assert_double_eq_tol(lr_grad_norm(p, 2), 5.0, 1e-9);
    double n = lr_grad_clip(p, 2, 1.0);
    ck_assert_double_eq_tol(n, 5.0, 1e-9);
    ck_assert_double_eq_tol(lr_grad_norm(p, 2), 1.0, 1e-5);
    ck_assert_double_eq_tol(p[1].g[0], 0.8, 1e-5);
    lr_grad_clip(p, 2, 10.0);   /* below the limit: unchanged */
    ck_assert_double_eq_tol(p[1].g[0], 0.8, 1e-5);
    lr_grad_zero(p, 2);
    ck_assert_double_eq(lr_grad_norm(p, 2), 0.0);
    free_param(&p[0]);
    free_param(&p[1]);

    /* warm-up 10 steps then decay over 100 */
    ck_assert_double_eq_tol(lr_schedule_lr(LR_SCHED_COSINE, 1.0, 0, 10, 100), 0.1, 1e-12);
    ck_assert_double_eq_tol(lr_schedule_lr(LR_SCHED_COSINE, 1.0, 9, 10, 100), 1.0, 1e-12);
    ck_assert_double_eq_tol(lr_schedule_lr(LR_SCHED_COSINE, 1.0, 10, 10, 100), 1.0, 1e-12);
    /* the decay runs over updates 10..99: t = (step - 10) / 89, and the
     * last update (99) runs at 0, as lr-train(1) says */
    for (int step = 10; step < 100; step++) {
        double t = (step - 10) / 89.0;
        ck_assert_double_eq_tol(lr_schedule_lr(LR_SCHED_COSINE, 1.0, step, 10, 100),
                                0.5 * (1 + cos(M_PI * t)), 1e-12);
        ck_assert_double_eq_tol(lr_schedule_lr(LR_SCHED_LINEAR, 2.0, step, 10, 100),
                                2.0 * (1 - t), 1e-12);
    }
    ck_assert_double_eq_tol(lr_schedule_lr(LR_SCHED_COSINE, 1.0, 99, 10, 100), 0.0, 1e-15);
    ck_assert_double_eq_tol(lr_schedule_lr(LR_SCHED_LINEAR, 2.0, 99, 10, 100), 0.0, 1e-15);
    /* odd count, no warm-up: the middle update (2 of 0..4) is at half */
    ck_assert_double_eq_tol(lr_schedule_lr(LR_SCHED_LINEAR, 1.0, 2, 0, 5), 0.5, 1e-15);
    ck_assert_double_eq_tol(lr_schedule_lr(LR_SCHED_COSINE, 1.0, 2, 0, 5), 0.5, 1e-15);
    ck_assert_double_eq_tol(lr_schedule_lr(LR_SCHED_LINEAR, 1.0, 4, 0, 5), 0.0, 1e-15);
    /* one update, or one after the warm-up: the base rate */
    ck_assert_double_eq_tol(lr_schedule_lr(LR_SCHED_LINEAR, 1.0, 0, 0, 1), 1.0, 1e-15);
    ck_assert_double_eq_tol(lr_schedule_lr(LR_SCHED_COSINE, 1.0, 3, 3, 4), 1.0, 1e-15);
    ck_assert_double_eq_tol(lr_schedule_lr(LR_SCHED_CONSTANT, 2.0, 70, 10, 100), 2.0, 1e-12);
    lr_schedule s;
    ck_assert_int_eq(lr_schedule_parse("cosine", &s), 0);
    ck_assert_int_eq(s, LR_SCHED_COSINE);
    ck_assert_int_eq(lr_schedule_parse("step", &s), -1);
}
END_TEST

START_TEST(test_rng)
{
    lr_rng a, b;
    lr_rng_seed(&a, 42);
    lr_rng_seed(&b, 42);
    double sum = 0, sq = 0;
    for (int i = 0; i < 20000; i++) {
        ck_assert_uint_eq(lr_rng_next(&a), lr_rng_next(&b));
        double x = lr_rng_normal(&a);
        lr_rng_normal(&b);
        sum += x, sq += x * x;
    }
    ck_assert_double_lt(fabs(sum / 20000), 0.03);
    ck_assert_double_lt(fabs(sq / 20000 - 1), 0.05);
    int perm[10];
    for (int i = 0; i < 10; i++) perm[i] = i;
    lr_rng_shuffle(&a, perm, 10);
    int seen = 0;
    for (int i = 0; i < 10; i++) seen |= 1 << perm[i];
    ck_assert_int_eq(seen, 1023);
}
END_TEST

/* ---------------- losses: finite differences in double ---------------- */

static double fill(float *x, int n, int seed)
{
    for (int i = 0; i < n; i++) x[i] = (float)sin(0.37 * i + seed * 1.7) * (1 + (i % 3));
    return 0;
}

/* relative agreement of analytic and central-difference gradients */
static void check_fd(double (*f)(void *ctx, float *x), void *ctx, float *x, const float *g, int n,
                     double h, double tol)
{
    double gmax = 0, dmax = 0;
    for (int i = 0; i < n; i++) {
        float x0 = x[i];
        x[i] = (float)(x0 + h);
        double fp = f(ctx, x);
        x[i] = (float)(x0 - h);
        double fm = f(ctx, x);
        x[i] = x0;
        double fd = (fp - fm) / (2 * h);
        if (fabs(fd) > gmax) gmax = fabs(fd);
        if (fabs(fd - g[i]) > dmax) dmax = fabs(fd - g[i]);
    }
    ck_assert_msg(gmax > 0, "zero gradient");
    ck_assert_msg(dmax / gmax < tol, "finite differences disagree: %g / %g", dmax, gmax);
}

typedef struct { int nq, np, dim; float *q, *p; int *pos; float *teacher; bool norm; int which; } nce_ctx;

static double nce_f(void *c, float *x)
{
    nce_ctx *k = c;
    (void)x;
    if (k->teacher)
        return lr_distill_kl(k->q, k->nq, k->p, k->np, k->dim, k->teacher, 0.5, 0.7, k->norm, 1, NULL, NULL);
    return lr_infonce(k->q, k->nq, k->p, k->np, k->dim, k->pos, 0.5, k->norm, 1, NULL, NULL, NULL);
}

START_TEST(test_infonce_distill)
{
    enum { NQ = 3, NP = 5, D = 4 };
    float q[NQ * D], p[NP * D], dq[NQ * D], dp[NP * D], teacher[NQ * NP], sc[NQ * NP];
    int pos[NQ] = {0, 3, 4};
    fill(q, NQ * D, 1);
    fill(p, NP * D, 2);
    for (int i = 0; i < NQ * NP; i++) teacher[i] = (float)cos(i * 0.9);
    for (int variant = 0; variant < 4; variant++) {
        nce_ctx c = {NQ, NP, D, q, p, pos, variant >= 2 ? teacher : NULL, variant & 1, 0};
        if (c.teacher)
            lr_distill_kl(q, NQ, p, NP, D, teacher, 0.5, 0.7, c.norm, 1, dq, dp);
        else
            lr_infonce(q, NQ, p, NP, D, pos, 0.5, c.norm, 1, dq, dp, sc);
        check_fd(nce_f, &c, q, dq, NQ * D, 1e-3, 2e-3);
        check_fd(nce_f, &c, p, dp, NP * D, 1e-3, 2e-3);
    }
    /* the loss itself: -log softmax at the positive, by hand */
    double loss = lr_infonce(q, NQ, p, NP, D, pos, 0.5, false, 1, NULL, NULL, sc);
    double ref = 0;
    for (int i = 0; i < NQ; i++) {
        double s[NP], mx = -1e300, z = 0;
        for (int j = 0; j < NP; j++) {
            s[j] = 0;
            for (int k = 0; k < D; k++) s[j] += (double)q[i * D + k] * p[j * D + k];
            s[j] /= 0.5;
            ck_assert_double_eq_tol(sc[i * NP + j], s[j], 1e-4);
            if (s[j] > mx) mx = s[j];
        }
        for (int j = 0; j < NP; j++) z += exp(s[j] - mx);
        ref += mx + log(z) - s[pos[i]];
    }
    ck_assert_double_eq_tol(loss, ref / NQ, 1e-9);
    /* KL(teacher || student) by hand: softmax of the teacher's scores over
     * tau_t against the student's over tau, in that direction */
    for (int norm = 0; norm < 2; norm++) {
        double kl = lr_distill_kl(q, NQ, p, NP, D, teacher, 0.5, 0.7, norm, 1, NULL, NULL);
        double fwd = 0, rev = 0;
        for (int i = 0; i < NQ; i++) {
            double s[NP], t[NP], ms = -1e300, mt = -1e300, zs = 0, zt = 0;
            double nq = 0;
            for (int k = 0; k < D; k++) nq += (double)q[i * D + k] * q[i * D + k];
            for (int j = 0; j < NP; j++) {
                double d = 0, np2 = 0;
                for (int k = 0; k < D; k++) {
                    d += (double)q[i * D + k] * p[j * D + k];
                    np2 += (double)p[j * D + k] * p[j * D + k];
                }
                s[j] = (norm ? d / sqrt(nq * np2) : d) / 0.5;
                t[j] = teacher[i * NP + j] / 0.7;
                ms = fmax(ms, s[j]), mt = fmax(mt, t[j]);
            }
            for (int j = 0; j < NP; j++) zs += exp(s[j] - ms), zt += exp(t[j] - mt);
            for (int j = 0; j < NP; j++) {
                double ls = s[j] - ms - log(zs), lt = t[j] - mt - log(zt);
                fwd += exp(lt) * (lt - ls);
                rev += exp(ls) * (ls - lt);
            }
        }
        fwd /= NQ, rev /= NQ;
        if (getenv("LR_TEST_VERBOSE")) fprintf(stderr, "kl %.12g ref %.12g reverse %.12g error %.3g\n", kl, fwd, rev, fabs(kl - fwd));
        /* both in double from the same float32 inputs: measured error
         * 3.6e-15; 1e-13 is a margin of 28, and the two directions differ
         * by far more */
        ck_assert_msg(fabs(fwd - rev) > 1e-2, "test data does not tell the directions apart");
        ck_assert_msg(fabs(kl - fwd) <= 1e-13, "KL %.9g, KL(teacher || student) %.9g, reverse %.9g",
                      kl, fwd, rev);
    }
    /* KL of a distribution against itself is 0 */
    double kl = lr_distill_kl(q, NQ, p, NP, D, sc, 0.5, 1.0, false, 1, dq, dp);
    ck_assert_double_lt(fabs(kl), 1e-5);
    for (int i = 0; i < NQ * D; i++) ck_assert_double_lt(fabs(dq[i]), 1e-5);
}
END_TEST

typedef struct { float *logits; int n, vocab; int32_t *t; } xent_ctx;
static double xent_f(void *c, float *x)
{
    xent_ctx *k = c;
    float *copy = malloc(sizeof(float) * k->n * k->vocab);
    memcpy(copy, x, sizeof(float) * k->n * k->vocab);
    double r = lr_xent(copy, k->n, k->vocab, k->t, 1, NULL);
    free(copy);
    return r;
}

START_TEST(test_xent)
{
    enum { N = 3, V = 7 };
    float l[N * V], d[N * V];
    int32_t t[N] = {0, 6, 3};
    fill(l, N * V, 3);
    double loss = lr_xent(l, N, V, t, 1, d);
    double ref = 0;
    for (int i = 0; i < N; i++) {
        double z = 0;
        for (int j = 0; j < V; j++) z += exp(l[i * V + j]);
        ref += log(z) - l[i * V + t[i]];
    }
    ck_assert_double_eq_tol(loss, ref, 1e-5);
    xent_ctx c = {l, N, V, t};
    check_fd(xent_f, &c, l, d, N * V, 1e-3, 2e-3);
    /* dlogits may alias logits */
    lr_xent(l, N, V, t, 0.5, l);
    for (int i = 0; i < N * V; i++) ck_assert_double_eq_tol(l[i], 0.5 * d[i], 1e-6);
}
END_TEST

/* ---------------- training data ---------------- */

static char tmpdir[256];

static const char *write_tmp(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void expect_load_error(const char *rows, const char *corpus, const char *pattern)
{
    char rpath[512], cpath[512];
    snprintf(rpath, sizeof rpath, "%s", write_tmp("rows.jsonl", rows));
    if (corpus) snprintf(cpath, sizeof cpath, "%s", write_tmp("corpus.jsonl", corpus));
    lr_error err = {{0}};
    lr_train_data *d = lr_train_data_load(rpath, corpus ? cpath : NULL, NULL, &err);
    ck_assert_ptr_null(d);
    ck_assert_msg(strstr(err.msg, pattern), "message '%s' lacks '%s'", err.msg, pattern);
    ck_assert_ptr_null(strchr(err.msg, '\n'));
}

START_TEST(test_data_rows)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/lr-test-train.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    const char *corpus = "{\"_id\": \"d1\", \"title\": \"T\", \"text\": \"one\"}\n"
                         "{\"_id\": \"d2\", \"title\": \"\", \"text\": \"two\"}\n"
                         "{\"_id\": \"d3\", \"text\": \"three\"}\n";
    char cpath[512], rpath[512];
    snprintf(cpath, sizeof cpath, "%s", write_tmp("c.jsonl", corpus));
    snprintf(rpath, sizeof rpath, "%s", write_tmp("r.jsonl",
             "{\"qid\": \"q1\", \"query\": \"what\", \"pos\": [\"d1\"], \"bm25_neg\": [\"d2\", \"d3\"]}\n\n"
             "{\"query\": \"who\", \"pos\": \"d3\"}\n"));
    lr_error err = {{0}};
    lr_train_data *d = lr_train_data_load(rpath, cpath, NULL, &err);
    ck_assert_msg(d != NULL, "%s", err.msg);
    ck_assert_uint_eq(d->n, 2);
    ck_assert_str_eq(d->ex[0].query, "what");
    ck_assert_int_eq(d->ex[0].n_pos, 1);
    ck_assert_int_eq(d->ex[0].n_neg, 2);
    ck_assert_str_eq(d->passages[d->ex[0].pos[0]], "T one");
    ck_assert_str_eq(d->passages[d->ex[0].neg[0]], "two");
    ck_assert_str_eq(d->passages[d->ex[1].pos[0]], "three");
    lr_train_data_free(d);

    /* inline texts and objects, no corpus */
    snprintf(rpath, sizeof rpath, "%s", write_tmp("r2.jsonl",
             "{\"query\": \"q\", \"pos\": [{\"id\": \"x\", \"title\": \"A\", \"text\": \"b\"}], "
             "\"neg\": [\"plain text\", {\"id\": \"x\", \"text\": \"ignored: same id\"}]}\n"));
    d = lr_train_data_load(rpath, NULL, NULL, &err);
    ck_assert_msg(d != NULL, "%s", err.msg);
    ck_assert_str_eq(d->passages[d->ex[0].pos[0]], "A b");
    ck_assert_str_eq(d->passages[d->ex[0].neg[0]], "plain text");
    ck_assert_int_eq(d->ex[0].neg[1], d->ex[0].pos[0]);
    ck_assert_uint_eq(d->n_passages, 2);
    lr_train_data_free(d);

    expect_load_error("{\"query\": \"q\", \"pos\": [\"d9\"]}\n", corpus, "line 1: unknown corpus id \"d9\"");
    expect_load_error("{\"query\": \"q\", \"pos\": []}\n", NULL, "line 1: no positive");
    expect_load_error("{\"query\": \"q\", \"neg\": [\"x\"]}\n", NULL, "line 1: no positive");
    expect_load_error("{\"query\": \"  \", \"pos\": [\"x\"]}\n", NULL, "line 1: empty query");
    expect_load_error("\n{\"query\": \"q\", \"pos\": [\"\"]}\n", NULL, "line 2: empty positive");
    expect_load_error("{\"query\": \"q\", \"pos\": [\"a\"]\n", NULL, "line 1: malformed JSON");
    expect_load_error("", NULL, "no training examples");
    expect_load_error("{\"query\": \"q\", \"pos\": [\"d1\"]}\n", "{\"_id\": \"d1\", \"text\": \"one\"}\n[1]\n",
                      "corpus.jsonl: line 2: malformed JSON: expected an object");
    expect_load_error("{\"query\": \"q\", \"pos\": [\"d1\"]}\n", "\n{\"_id\": \"d1\"}\n",
                      "corpus.jsonl: line 2: expected \"_id\" and \"text\"");
    expect_load_error("{\"query\": \"q\", \"pos\": [\"d1\"]}\n", "", "empty corpus");

    /* BEIR directory with a negatives file */
    char dir[600];
    snprintf(dir, sizeof dir, "%s/beir", tmpdir);
    mkdir(dir, 0777);
    char qd[700];
    snprintf(qd, sizeof qd, "%s/qrels", dir);
    mkdir(qd, 0777);
    write_tmp("beir/corpus.jsonl", corpus);
    write_tmp("beir/queries.jsonl", "{\"_id\": \"1\", \"text\": \"first\"}\n{\"_id\": \"2\", \"text\": \"second\"}\n"
                                    "{\"_id\": \"3\", \"text\": \"unjudged\"}\n");
    write_tmp("beir/qrels/train.tsv", "query-id\tcorpus-id\tscore\n2\td3\t1\n1\td1\t1\n1\td2\t1\n2\td1\t0\n");
    char npath[512];
    snprintf(npath, sizeof npath, "%s", write_tmp("negs.jsonl", "{\"qid\": \"1\", \"neg\": [\"d3\"]}\n"
                                                               "{\"qid\": \"3\", \"neg\": [\"d3\"]}\n"));
    d = lr_train_data_load(dir, NULL, npath, &err);
    ck_assert_msg(d != NULL, "%s", err.msg);
    ck_assert_uint_eq(d->n, 2);
    ck_assert_str_eq(d->ex[0].query, "second");
    ck_assert_int_eq(d->ex[0].n_pos, 1);
    ck_assert_int_eq(d->ex[1].n_pos, 2);
    ck_assert_int_eq(d->ex[1].n_neg, 1);
    ck_assert_str_eq(d->passage_ids[d->ex[1].neg[0]], "d3");
    lr_train_data_free(d);
    write_tmp("beir/qrels/train.tsv", "query-id\tcorpus-id\tscore\n1\td7\t1\n");
    d = lr_train_data_load(dir, NULL, NULL, &err);
    ck_assert_ptr_null(d);
    ck_assert_ptr_nonnull(strstr(err.msg, "train.tsv: line 2: unknown corpus id \"d7\""));
}
END_TEST

START_TEST(test_data_shared)
{
    char p[4096], c[4096];
    if (!shared_path(p, sizeof p, "datasets/train/scifact_train_bm25negs.jsonl")) return;
    shared_path(c, sizeof c, "datasets/scifact/corpus.jsonl");
    lr_error err = {{0}};
    lr_train_data *d = lr_train_data_load(p, c, NULL, &err);
    ck_assert_msg(d != NULL, "%s", err.msg);
    ck_assert_uint_eq(d->n, 809);
    ck_assert_uint_eq(d->n_passages, 5183);
    ck_assert_int_eq(d->ex[0].n_neg, 30);
    lr_train_data_free(d);
    shared_path(p, sizeof p, "datasets/train/climate_fever_claim_evidence.jsonl");
    d = lr_train_data_load(p, NULL, NULL, &err);
    ck_assert_msg(d != NULL, "%s", err.msg);
    ck_assert_uint_eq(d->n, 1061);
    size_t npos = 0;
    for (size_t i = 0; i < d->n; i++) npos += d->ex[i].n_pos;
    ck_assert_uint_eq(npos, 2745);
    lr_train_data_free(d);
    /* BEIR train split with the BM25 negatives file */
    shared_path(p, sizeof p, "datasets/scifact");
    shared_path(c, sizeof c, "datasets/train/scifact_train_bm25negs.jsonl");
    d = lr_train_data_load(p, NULL, c, &err);
    ck_assert_msg(d != NULL, "%s", err.msg);
    ck_assert_uint_eq(d->n, 809);
    ck_assert_int_eq(d->ex[0].n_neg, 30);
    lr_train_data_free(d);
}
END_TEST


/* ---------------- gradients against the fixtures ---------------- */

/* Tolerances against the float64 reference gradients, each 10x or more the
 * largest error measured over the fixtures, with and without gradient
 * caching, pooling and normalisation variants included (LR_TEST_VERBOSE=1
 * prints them): gradients 4.8e-6 of each
 * tensor's largest value; losses 6.0e-7 (relative, at least 1);
 * contrastive scores 3.7e-7 of the largest score. */
#define TOL_GRAD 5e-5
#define TOL_LOSS 1e-5
#define TOL_SCORES 5e-6

/* A float64 safetensors file read whole (the references). */
typedef struct f64file { char *buf; size_t len; json_t *hdr; size_t base; } f64file;

static int f64_open(f64file *f, const char *path)
{
    lr_error err;
    f->buf = lr_read_file(path, &f->len, &err);
    if (!f->buf) return -1;
    uint64_t n;
    memcpy(&n, f->buf, 8);
    f->hdr = json_loadb(f->buf + 8, n, 0, NULL);
    f->base = 8 + n;
    return f->hdr ? 0 : -1;
}

/* data of tensor name (NULL if absent), its element count in *n */
static const double *f64_get(f64file *f, const char *name, size_t *n)
{
    json_t *t = json_object_get(f->hdr, name);
    if (!t) return NULL;
    json_t *off = json_object_get(t, "data_offsets");
    size_t a = json_integer_value(json_array_get(off, 0)), b = json_integer_value(json_array_get(off, 1));
    *n = (b - a) / 8;
    return (const double *)(f->buf + f->base + a);
}

static void f64_close(f64file *f)
{
    json_decref(f->hdr);
    free(f->buf);
}

/* packed ids of a JSON array of id arrays */
static int pack_ids(json_t *arr, int32_t **ids, int **lens)
{
    int n = (int)json_array_size(arr);
    size_t T = 0;
    for (int i = 0; i < n; i++) T += json_array_size(json_array_get(arr, i));
    *ids = malloc(T * sizeof(int32_t) + 1);
    *lens = malloc(n * sizeof(int) + 1);
    size_t t = 0;
    for (int i = 0; i < n; i++) {
        json_t *s = json_array_get(arr, i);
        (*lens)[i] = (int)json_array_size(s);
        for (size_t j = 0; j < json_array_size(s); j++) (*ids)[t++] = (int32_t)json_integer_value(json_array_get(s, j));
    }
    return n;
}

/* every parameter with a reference gradient must match it, and every
 * reference gradient must belong to a parameter */
static void compare_grads(lr_tmodel *tm, f64file *ref, const char *what, int *n_checked)
{
    int np;
    lr_tparam *p = lr_tmodel_params(tm, &np);
    int matched = 0;
    for (int i = 0; i < np; i++) {
        char key[300];
        snprintf(key, sizeof key, "grad.%s", p[i].name);
        size_t n;
        const double *r = f64_get(ref, key, &n);
        if (!r) {
            /* no reference: the parameter must have no gradient */
            double z = 0;
            for (int64_t j = 0; j < p[i].n; j++) z += fabs(p[i].g[j]);
            ck_assert_msg(z == 0, "%s: %s: gradient without a reference", what, p[i].name);
            continue;
        }
        ck_assert_msg((int64_t)n == p[i].n, "%s: %s: %zu vs %lld elements", what, p[i].name, n, (long long)p[i].n);
        double e = measured("grad", what, rel_err_f32_f64(p[i].g, r, n));
        if (getenv("LR_TEST_VERBOSE")) fprintf(stderr, "%s %s %.2e\n", what, p[i].name, e);
        ck_assert_msg(e <= TOL_GRAD, "%s: %s: relative error %g", what, p[i].name, e);
        matched++;
    }
    int refs = 0;
    const char *k;
    json_t *v;
    json_object_foreach(ref->hdr, k, v) if (strncmp(k, "grad.", 5) == 0 && strcmp(k, "grad.query_embeddings") &&
                                            strcmp(k, "grad.passage_embeddings")) refs++;
    ck_assert_msg(matched == refs, "%s: %d of %d reference gradients matched", what, matched, refs);
    *n_checked += matched;
}

/* the fixtures that carry reference gradients (tiny-mistral has none) */
static const char *const fixtures[] = {"tiny-llama", "tiny-llama-cut", "tiny-qwen2", "tiny-qwen3",
                                       "tiny-llama3rope", "aidreams260K"};

/* A fixture's contrastive case: its checkpoint, ref-batch.json packed into
 * a batch, and the float64 reference refpath. */
typedef struct ctr_case {
    f64file ref;
    lr_checkpoint *ck;
    lr_contrastive_batch b;
    int32_t *qi, *pi;
    int *ql, *pl, *pos;
} ctr_case;

static void ctr_case_open(ctr_case *c, const char *dir, const char *refpath)
{
    char path[1100];
    ck_assert_msg(access(refpath, R_OK) == 0, "%s: no reference gradients", refpath);
    ck_assert_int_eq(f64_open(&c->ref, refpath), 0);
    lr_error err = {{0}};
    c->ck = lr_checkpoint_load(dir, &err);
    ck_assert_msg(c->ck != NULL, "%s", err.msg);
    snprintf(path, sizeof path, "%s/ref-batch.json", dir);
    json_t *batch = lr_json_load_file(path, &err);
    ck_assert_ptr_nonnull(batch);
    lr_contrastive_batch *b = &c->b;
    memset(b, 0, sizeof *b);
    b->nq = pack_ids(json_object_get(batch, "queries"), &c->qi, &c->ql);
    b->np = pack_ids(json_object_get(batch, "passages"), &c->pi, &c->pl);
    b->q_ids = c->qi, b->q_lens = c->ql, b->p_ids = c->pi, b->p_lens = c->pl;
    c->pos = malloc(b->nq * sizeof(int));
    for (int i = 0; i < b->nq; i++)
        c->pos[i] = (int)json_integer_value(json_array_get(json_object_get(batch, "positives"), i));
    b->pos = c->pos;
    json_decref(batch);
}

static void ctr_case_close(ctr_case *c)
{
    free(c->qi), free(c->ql), free(c->pi), free(c->pl), free(c->pos);
    lr_checkpoint_free(c->ck);
    f64_close(&c->ref);
}

/* A trainable model of the case's checkpoint. */
static lr_tmodel *ctr_tmodel(const ctr_case *c)
{
    lr_error err = {{0}};
    lr_tmodel *tm = lr_tmodel_new(c->ck, false, &err);
    ck_assert_msg(tm != NULL, "%s", err.msg);
    return tm;
}

/* The fixture dir's ref-batch.json through lr_tmodel_contrastive against
 * the float64 reference refpath (loss, scores, every gradient), in one graph
 * and with gradient caching in small chunks. */
static void check_contrastive(const char *dir, const char *refpath, const char *what, lr_pooling pool,
                              bool normalize, double tau)
{
    ctr_case c;
    ctr_case_open(&c, dir, refpath);
    const lr_contrastive_batch *b = &c.b;
    lr_error err = {{0}};
    /* twice: one forward with graph, then with gradient caching in small chunks */
    for (int pass = 0; pass < 2; pass++) {
        lr_tmodel *tm = ctr_tmodel(&c);
        if (pass) lr_tmodel_set_chunk(tm, 12);
        float *scores = malloc(sizeof(float) * b->nq * b->np);
        double loss = lr_tmodel_contrastive(tm, b, tau, 1, pool, normalize, 1.0, scores, &err);
        size_t n;
        const double *rl = f64_get(&c.ref, "loss", &n);
        measured("contrastive_loss", what, fabs(loss - rl[0]) / fmax(1, fabs(rl[0])));
        ck_assert_msg(fabs(loss - rl[0]) <= TOL_LOSS * fmax(1, fabs(rl[0])), "%s: loss %.8f vs %.8f", what, loss, rl[0]);
        const double *rs = f64_get(&c.ref, "scores", &n);
        ck_assert_int_eq(n, b->nq * b->np);
        ck_assert_msg(measured("scores", what, rel_err_f32_f64(scores, rs, n)) < TOL_SCORES, "%s: scores", what);
        int checked = 0;
        compare_grads(tm, &c.ref, what, &checked);
        ck_assert_int_gt(checked, 5);
        free(scores);
        lr_tmodel_free(tm);
    }
    ctr_case_close(&c);
}

/* The fixture fx's directory and its contrastive reference in path;
 * false (the test returns) when the shared data is absent. */
static bool contrastive_ref(const char *fx, char dir[1024], char path[1100])
{
    snprintf(path, 200, "fixtures/%s", fx);
    if (!shared_path(dir, 1024, path)) return false;
    snprintf(path, 1100, "%s/ref-contrastive-grad.safetensors", dir);
    return true;
}

/* ctr_case_open on fixture fx's contrastive reference; false (the test
 * returns) when the shared data is absent. */
static bool ctr_case_open_fixture(ctr_case *c, const char *fx)
{
    char dir[1024], path[1100];
    if (!contrastive_ref(fx, dir, path)) return false;
    ctr_case_open(c, dir, path);
    return true;
}

/* Adapters that have moved: every lora_B ~ 0.05 N(0, 1) instead of zero. */
static void lora_move_b(lr_tparam *p, int np, uint64_t seed)
{
    lr_rng rng;
    lr_rng_seed(&rng, seed);
    for (int i = 0; i < np; i++)
        if (strstr(p[i].name, "lora_B"))
            for (int64_t j = 0; j < p[i].n; j++) p[i].w[j] = (float)(0.05 * lr_rng_normal(&rng));
}

START_TEST(test_grad_contrastive)
{
    const char *fx = fixtures[_i];
    char dir[1024], path[1100];
    if (!contrastive_ref(fx, dir, path)) return;
    check_contrastive(dir, path, fx, LR_POOL_LAST, true, 0.05);
}
END_TEST

/* Training in bf16 (lr_tmodel_set_precision): the same reference batch,
 * one graph; every gradient tensor's cosine to the float64 reference
 * (norms and biases included; measured >= 0.9997) and the loss within
 * the bounds below.
 * Skipped where the CPU lacks AVX512-BF16. */
#define BF16_MIN_COS 0.999
#define BF16_TOL_LOSS 0.02   /* relative; measured up to 0.008 (tau 0.05 magnifies score errors) */
START_TEST(test_grad_bf16)
{
    const char *fx = fixtures[_i];
    if (!lr_precision_supported(LR_PREC_BF16)) {
        fprintf(stderr, "note: this CPU does not run bf16: not tested\n");
        return;
    }
    ctr_case c;
    if (!ctr_case_open_fixture(&c, fx)) return;
    lr_error err = {{0}};
    lr_tmodel *tm = ctr_tmodel(&c);
    ck_assert_int_eq(lr_tmodel_set_precision(tm, LR_PREC_BF16, &err), 0);
    ck_assert_int_eq(lr_tmodel_precision(tm), LR_PREC_BF16);
    double loss = lr_tmodel_contrastive(tm, &c.b, 0.05, 1, LR_POOL_LAST, true, 1.0, NULL, &err);
    size_t n;
    const double *rl = f64_get(&c.ref, "loss", &n);
    double el = measured("bf16_loss", fx, fabs(loss - rl[0]) / fmax(1, fabs(rl[0])));
    ck_assert_msg(el <= BF16_TOL_LOSS, "%s: bf16 loss %.6f vs %.6f", fx, loss, rl[0]);
    int np, checked = 0;
    lr_tparam *p = lr_tmodel_params(tm, &np);
    double worst = 1;
    for (int i = 0; i < np; i++) {
        char key[300];
        snprintf(key, sizeof key, "grad.%s", p[i].name);
        const double *r = f64_get(&c.ref, key, &n);
        if (!r) continue;
        ck_assert_int_eq((int64_t)n, p[i].n);
        double dot = 0, na = 0, nr = 0;
        for (size_t j = 0; j < n; j++) {
            dot += p[i].g[j] * r[j];
            na += (double)p[i].g[j] * p[i].g[j];
            nr += r[j] * r[j];
        }
        if (nr == 0) continue;   /* a parameter the batch does not reach */
        double cs = dot / sqrt(na * nr);
        if (getenv("LR_TEST_VERBOSE")) fprintf(stderr, "bf16 %s %s cos %.6f\n", fx, p[i].name, cs);
        ck_assert_msg(cs >= BF16_MIN_COS, "%s: %s: bf16 gradient cosine %.6f", fx, p[i].name, cs);
        worst = fmin(worst, cs);
        checked++;
    }
    measured("bf16_grad_1-cos", fx, 1 - worst);
    ck_assert_int_gt(checked, 5);
    /* int8 is for inference only */
    ck_assert_int_eq(lr_tmodel_set_precision(tm, LR_PREC_INT8, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "int8"));
    lr_tmodel_free(tm);
    ctr_case_close(&c);
}
END_TEST

/* Mean pooling and unnormalised scores (temperature 1: raw dot products):
 * the shared fixtures carry no references for them, so main() has
 * ../shared/tools/torchref.py compute them into variant_refs (empty when
 * PyTorch is absent: the cases are skipped). */
static char variant_refs[256];
static const char *const variant_fixtures[] = {"tiny-llama", "tiny-llama-cut", "tiny-qwen3"};
static const struct { const char *tag; lr_pooling pool; bool normalize; double tau; } variants[] = {
    {"mean", LR_POOL_MEAN, true, 0.05}, {"last-raw", LR_POOL_LAST, false, 1.0}, {"mean-raw", LR_POOL_MEAN, false, 1.0}};
#define N_VARIANTS LR_ARRAY_LEN_(variants)

START_TEST(test_grad_variants)
{
    const char *fx = variant_fixtures[_i / N_VARIANTS];
    int v = _i % N_VARIANTS;
    char dir[1024], rel[200], path[1100], what[200];
    snprintf(rel, sizeof rel, "fixtures/%s", fx);
    if (!shared_path(dir, sizeof dir, rel) || !variant_refs[0]) return;
    snprintf(path, sizeof path, "%s/%s-%s.safetensors", variant_refs, fx, variants[v].tag);
    snprintf(what, sizeof what, "%s %s", fx, variants[v].tag);
    check_contrastive(dir, path, what, variants[v].pool, variants[v].normalize, variants[v].tau);
}
END_TEST

/* A fixture's LM case: its checkpoint, the packed reference ids and the
 * float64 reference gradients; false (the test skips) without ../shared. */
typedef struct lm_case {
    f64file ref;
    lr_checkpoint *ck;
    int32_t *ids;
    int *lens, n;
} lm_case;

static bool lm_case_open(lm_case *c, const char *fx)
{
    char dir[1024], path[1100];
    snprintf(path, 200, "fixtures/%s", fx);
    if (!shared_path(dir, sizeof dir, path)) return false;
    snprintf(path, sizeof path, "%s/ref-lm-grad.safetensors", dir);
    ck_assert_msg(access(path, R_OK) == 0, "%s: no reference gradients", path);
    ck_assert_int_eq(f64_open(&c->ref, path), 0);
    lr_error err = {{0}};
    c->ck = lr_checkpoint_load(dir, &err);
    ck_assert_msg(c->ck != NULL, "%s", err.msg);
    snprintf(path, sizeof path, "%s/ref-ids.json", dir);
    json_t *seqs = lr_json_load_file(path, &err);
    ck_assert_ptr_nonnull(seqs);
    c->n = pack_ids(seqs, &c->ids, &c->lens);
    json_decref(seqs);
    return true;
}

static void lm_case_close(lm_case *c)
{
    free(c->ids);
    free(c->lens);
    lr_checkpoint_free(c->ck);
    f64_close(&c->ref);
}

START_TEST(test_grad_lm)
{
    const char *fx = fixtures[_i];
    lm_case c;
    if (!lm_case_open(&c, fx)) return;
    lr_checkpoint *ck = c.ck;
    f64file ref = c.ref;
    int32_t *ids = c.ids;
    int *lens = c.lens;
    int n = c.n;
    lr_error err = {{0}};
    for (int pass = 0; pass < 2; pass++) {
        lr_tmodel *tm = lr_tmodel_new(ck, true, &err);
        ck_assert_msg(tm != NULL, "%s", err.msg);
        if (pass) lr_tmodel_set_chunk(tm, 20);
        int64_t np;
        double loss = lr_tmodel_lm(tm, ids, lens, n, 1.0, &np, &err);
        size_t k;
        const double *rl = f64_get(&ref, "loss", &k);
        measured("lm_loss", fx, fabs(loss - rl[0]) / fmax(1, fabs(rl[0])));
        ck_assert_msg(fabs(loss - rl[0]) <= TOL_LOSS * fmax(1, fabs(rl[0])), "%s: lm loss %.8f vs %.8f", fx, loss, rl[0]);
        int checked = 0;
        compare_grads(tm, &ref, fx, &checked);
        ck_assert_int_gt(checked, 5);
        lr_tmodel_free(tm);
    }
    lm_case_close(&c);
}
END_TEST

/* LoRA adapters on every projection with B = 0, so that the merged
 * weights are the fixture's: the LM gradient of B must be s dW A^T with
 * dW the float64 reference gradient of the weight, and that of A zero
 * (it is s (dY B)^T X). */
START_TEST(test_lora_ref)
{
    const char *fx = fixtures[_i];
    lm_case c;
    if (!lm_case_open(&c, fx)) return;
    lr_checkpoint *ck = c.ck;
    f64file ref = c.ref;
    int32_t *ids = c.ids;
    int *lens = c.lens;
    int n = c.n;
    lr_error err = {{0}};
    enum { R = 4 };
    const double s = 8.0 / R;
    /* f32 to the reference's tolerance; bf16 (where the CPU runs it) to
     * test_grad_bf16's cosine */
    for (int bf16 = 0; bf16 < 2; bf16++) {
        if (bf16 && !lr_precision_supported(LR_PREC_BF16)) break;
        lr_tmodel *tm = lr_tmodel_new(ck, false, &err);
        ck_assert_msg(tm != NULL, "%s", err.msg);
        if (bf16) ck_assert_int_eq(lr_tmodel_set_precision(tm, LR_PREC_BF16, &err), 0);
        ck_assert_int_eq(lr_tmodel_lora(tm, R, 8.0, "all", 7, &err), 0);
        int np;
        lr_tparam *p = lr_tmodel_params(tm, &np);
        lr_grad_zero(p, np);
        double loss = lr_tmodel_lm(tm, ids, lens, n, 1.0, NULL, &err);
        size_t k;
        const double *rl = f64_get(&ref, "loss", &k);
        const double tol = bf16 ? BF16_TOL_LOSS : TOL_LOSS;
        ck_assert_msg(fabs(loss - rl[0]) <= tol * fmax(1, fabs(rl[0])), "%s: lm loss %.8f vs %.8f%s", fx, loss,
                      rl[0], bf16 ? " (bf16)" : "");
        int checked = 0;
        for (int i = 0; i + 1 < np; i += 2) {
            lr_tparam *a = &p[i], *b = &p[i + 1];
            ck_assert_msg(strstr(a->name, ".lora_A") && strstr(b->name, ".lora_B"), "%s, %s", a->name, b->name);
            for (int64_t j = 0; j < a->n; j++)
                ck_assert_msg(a->g[j] == 0, "%s: %s: gradient %g with B = 0", fx, a->name, a->g[j]);
            char key[300];
            snprintf(key, sizeof key, "grad.%.*s.weight", (int)(strstr(a->name, ".lora_A") - a->name), a->name);
            size_t nw;
            const double *dw = f64_get(&ref, key, &nw);
            ck_assert_msg(dw != NULL, "%s: no reference %s", fx, key);
            const int64_t out = b->shape[0], in = a->shape[1];
            ck_assert_int_eq((int64_t)nw, out * in);
            double *want = malloc(sizeof(double) * out * R);
            for (int64_t o = 0; o < out; o++)
                for (int r = 0; r < R; r++) {
                    double d = 0;
                    for (int64_t c = 0; c < in; c++) d += dw[o * in + c] * a->w[r * in + c];
                    want[o * R + r] = s * d;
                }
            if (bf16) {
                double dot = 0, ng = 0, nw2 = 0;
                for (int64_t j = 0; j < out * R; j++) {
                    dot += b->g[j] * want[j];
                    ng += (double)b->g[j] * b->g[j];
                    nw2 += want[j] * want[j];
                }
                double cs = nw2 > 0 ? dot / sqrt(ng * nw2) : 1;
                measured("lora_bf16_1-cos", fx, 1 - cs);
                ck_assert_msg(cs >= BF16_MIN_COS, "%s: %s: bf16 gradient cosine %.6f", fx, b->name, cs);
            } else {
                double e = measured("lora_grad", fx, rel_err_f32_f64(b->g, want, (size_t)(out * R)));
                ck_assert_msg(e <= TOL_GRAD, "%s: %s: relative error %g", fx, b->name, e);
            }
            free(want);
            checked++;
        }
        ck_assert_int_eq(2 * checked, np);
        ck_assert_int_gt(checked, 0);
        lr_tmodel_free(tm);
    }
    lm_case_close(&c);
}
END_TEST

/* LoRA adapters: gradients of A and B against central differences of the
 * LM loss (B made non-zero so that A has a gradient too). */
START_TEST(test_lora_fd)
{
    char dir[1024];
    if (!shared_path(dir, sizeof dir, "fixtures/tiny-llama")) return;
    lr_error err = {{0}};
    lr_checkpoint *ck = lr_checkpoint_load(dir, &err);
    ck_assert_msg(ck != NULL, "%s", err.msg);
    char path[1100];
    snprintf(path, sizeof path, "%s/ref-ids.json", dir);
    json_t *seqs = lr_json_load_file(path, &err);
    int32_t *ids;
    int *lens;
    int n = pack_ids(seqs, &ids, &lens);
    lr_tmodel *tm = lr_tmodel_new(ck, true, &err);
    ck_assert_int_eq(lr_tmodel_lora(tm, 4, 8.0, "q,v,o,gate,down", 7, &err), 0);
    ck_assert_int_ne(lr_tmodel_lora(tm, 4, 8.0, "all", 7, &err), 0);
    int np;
    lr_tparam *p = lr_tmodel_params(tm, &np);
    ck_assert_int_eq(np, 2 * 5 * 4);
    lora_move_b(p, np, 3);
    lr_grad_zero(p, np);
    lr_tmodel_lm(tm, ids, lens, n, 1.0, NULL, &err);
    int checked = 0;
    for (int i = 0; i < np; i++) {
        /* the two largest gradient entries of each adapter */
        for (int rep = 0; rep < 2; rep++) {
            int64_t best = 0;
            for (int64_t j = 0; j < p[i].n; j++)
                if (fabsf(p[i].g[j]) > fabsf(p[i].g[best]) && (rep == 0 || j != 0)) best = j;
            if (rep) best = (best + p[i].n / 2) % p[i].n;   /* and one elsewhere */
            float w0 = p[i].w[best];
            const double h = 1e-2;
            /* the loss only (scale 0 adds nothing to the gradients) */
            p[i].w[best] = (float)(w0 + h);
            double fp = lr_tmodel_lm(tm, ids, lens, n, 0.0, NULL, &err);
            p[i].w[best] = (float)(w0 - h);
            double fm = lr_tmodel_lm(tm, ids, lens, n, 0.0, NULL, &err);
            p[i].w[best] = w0;
            double fd = (fp - fm) / (2 * h), g = p[i].g[best];
            double gmax = 0;
            for (int64_t j = 0; j < p[i].n; j++) gmax = fmax(gmax, fabsf(p[i].g[j]));
            ck_assert_msg(fabs(fd - g) <= 0.02 * gmax + 1e-5, "%s[%lld]: analytic %g, differences %g",
                          p[i].name, (long long)best, g, fd);
            checked++;
        }
    }
    ck_assert_int_eq(checked, 2 * np);
    /* merged on save: every targeted weight is W0 + (alpha / r) B A, computed
     * here in double from the checkpoint's W0 and the adapters; k and up,
     * not targeted, are stored unchanged */
    static const char *const names[] = {"self_attn.q_proj", "self_attn.v_proj", "self_attn.o_proj",
                                        "mlp.gate_proj", "mlp.down_proj", "self_attn.k_proj",
                                        "mlp.up_proj"};
    enum { NT = 7, TARGETED = 5 };
    int L = ck->cfg.n_layers;
    float **w0 = calloc((size_t)L * NT, sizeof *w0);
    for (int l = 0; l < L; l++)
        for (int k = 0; k < NT; k++) {
            char tn[200];
            snprintf(tn, sizeof tn, "model.layers.%d.%s.weight", l, names[k]);
            lr_tensor *t = lr_checkpoint_tensor(ck, tn);
            ck_assert_msg(t != NULL, "%s", tn);
            w0[l * NT + k] = malloc(sizeof(float) * lr_tensor_numel(t));
            lr_to_f32(t->dtype, t->data, w0[l * NT + k], lr_tensor_numel(t));
        }
    ck_assert_int_eq(lr_tmodel_store(tm, ck, &err), 0);
    double dmax = 0, emax = 0;
    int merged = 0;
    for (int l = 0; l < L; l++)
        for (int k = 0; k < NT; k++) {
            char tn[200], an[200], bn[200];
            snprintf(tn, sizeof tn, "model.layers.%d.%s.weight", l, names[k]);
            snprintf(an, sizeof an, "model.layers.%d.%s.lora_A", l, names[k]);
            snprintf(bn, sizeof bn, "model.layers.%d.%s.lora_B", l, names[k]);
            lr_tensor *t = lr_checkpoint_tensor(ck, tn);
            int64_t out = t->shape[0], in = t->shape[1];
            float *w = malloc(sizeof(float) * out * in);
            lr_to_f32(t->dtype, t->data, w, out * in);
            const float *A = NULL, *B = NULL;
            for (int i = 0; i < np; i++) {
                if (!strcmp(p[i].name, an)) A = p[i].w;
                if (!strcmp(p[i].name, bn)) B = p[i].w;
            }
            ck_assert_msg((A && B) == (k < TARGETED), "%s: adapters %s", tn, A ? "present" : "absent");
            for (int64_t o = 0; o < out; o++)
                for (int64_t j = 0; j < in; j++) {
                    double d = 0;
                    if (A)
                        for (int r = 0; r < 4; r++) d += (double)B[o * 4 + r] * A[r * in + j];
                    d *= 8.0 / 4;
                    double want = w0[l * NT + k][o * in + j] + d;
                    emax = fmax(emax, fabs(w[o * in + j] - want));
                    dmax = fmax(dmax, fabs(d));
                }
            merged += A != NULL;
            free(w);
            free(w0[l * NT + k]);
        }
    free(w0);
    ck_assert_int_eq(merged, TARGETED * L);
    /* float32 tensors: the merge is one rounding away (measured max error
     * 1.4e-8 on deltas up to 0.08); 1e-6 leaves a margin of 70 and is far
     * below the change the adapters make */
    if (getenv("LR_TEST_VERBOSE")) fprintf(stderr, "lora merge: max delta %.3g, max error %.3g\n", dmax, emax);
    ck_assert_msg(dmax > 1e-3, "adapters make no change (max %g)", dmax);
    ck_assert_msg(emax <= 1e-6, "merged weights differ from W0 + s B A by %g", emax);
    lr_tmodel_free(tm);
    free(ids), free(lens);
    json_decref(seqs);
    lr_checkpoint_free(ck);
}
END_TEST

/* Every elementwise loop and reduction on the worker pool (forced: the
 * fixtures are small) gives the same bits on one thread
 * and on two: the loss, the scores, every gradient and the gradients'
 * norm, full and LoRA.
 * The reductions are cut by the problem's size, never by the thread count. */
START_TEST(test_grad_threads)
{
    const char *fx = fixtures[_i];
    ctr_case c;
    if (!ctr_case_open_fixture(&c, fx)) return;
    lr_error err = {{0}};
    lr_par_force(true);
    for (int lora = 0; lora < 2; lora++) {
        float *g1 = NULL, scores[2][256];
        double loss[2], norm[2];
        size_t total = 0;
        for (int threads = 1; threads <= 2; threads++) {
            lr_threads_init(threads);
            lr_tmodel *tm = ctr_tmodel(&c);
            if (lora) ck_assert_msg(lr_tmodel_lora(tm, 4, 8.0, "all", 7, &err) == 0, "%s", err.msg);
            ck_assert_int_le(c.b.nq * c.b.np, 256);
            loss[threads - 1] = lr_tmodel_contrastive(tm, &c.b, 0.05, 1, LR_POOL_LAST, true, 1.0,
                                                      scores[threads - 1], &err);
            int np;
            lr_tparam *p = lr_tmodel_params(tm, &np);
            norm[threads - 1] = lr_grad_norm(p, np);
            size_t at = 0;
            for (int i = 0; i < np; i++) {
                if (threads == 1) {
                    g1 = realloc(g1, (at + p[i].n) * sizeof(float));
                    memcpy(g1 + at, p[i].g, p[i].n * sizeof(float));
                } else {
                    ck_assert_msg(at + p[i].n <= total, "%s: more parameters on two threads", fx);
                    ck_assert_msg(memcmp(g1 + at, p[i].g, p[i].n * sizeof(float)) == 0,
                                  "%s%s: %s: gradient differs between one and two threads", fx,
                                  lora ? " (LoRA)" : "", p[i].name);
                }
                at += p[i].n;
            }
            if (threads == 1) total = at;
            else ck_assert_int_eq(at, total);
            lr_tmodel_free(tm);
        }
        ck_assert_msg(loss[0] == loss[1], "%s: loss %.17g on one thread, %.17g on two", fx, loss[0], loss[1]);
        ck_assert_msg(norm[0] == norm[1], "%s: gradient norm %.17g on one thread, %.17g on two", fx,
                      norm[0], norm[1]);
        ck_assert_msg(memcmp(scores[0], scores[1], c.b.nq * c.b.np * sizeof(float)) == 0,
                      "%s: scores differ between one and two threads", fx);
        ck_assert_int_gt(total, 0);
        free(g1);
    }
    lr_par_force(false);
    ctr_case_close(&c);
}
END_TEST

/* LoRA with adapters that moved (B != 0, set after lr_tmodel_lora):
 * contrastive in one graph and with gradient caching in chunks of 12
 * tokens give the same loss and adapter gradients, so the caching path
 * embeds on weights merged from the adapters as they are. */
START_TEST(test_lora_chunked)
{
    const char *fx = fixtures[_i];
    ctr_case c;
    if (!ctr_case_open_fixture(&c, fx)) return;
    lr_error err = {{0}};
    double loss[2], *g0 = NULL;
    size_t total = 0;
    for (int pass = 0; pass < 2; pass++) {
        lr_tmodel *tm = ctr_tmodel(&c);
        ck_assert_msg(lr_tmodel_lora(tm, 4, 8.0, "all", 7, &err) == 0, "%s", err.msg);
        int np;
        lr_tparam *p = lr_tmodel_params(tm, &np);
        lora_move_b(p, np, 11);
        if (pass) lr_tmodel_set_chunk(tm, 12);
        lr_grad_zero(p, np);
        loss[pass] = lr_tmodel_contrastive(tm, &c.b, 0.05, 1, LR_POOL_LAST, true, 1.0, NULL, &err);
        ck_assert_msg(isfinite(loss[pass]), "%s: %s", fx, err.msg);
        /* every adapter's gradient: kept in one graph, compared in chunks */
        if (!pass) {
            for (int i = 0; i < np; i++) total += p[i].n;
            g0 = malloc(total * sizeof(double));
        }
        size_t at = 0;
        double err_max = 0;
        for (int i = 0; i < np; i++) {
            if (!pass) for (int64_t k = 0; k < p[i].n; k++) g0[at + k] = p[i].g[k];
            else err_max = fmax(err_max, rel_err_f32_f64(p[i].g, g0 + at, p[i].n));
            at += p[i].n;
        }
        ck_assert_int_eq(at, total);
        if (pass)
            ck_assert_msg(measured("lora_chunked_grad", fx, err_max) < TOL_GRAD,
                          "%s: LoRA gradients with gradient caching off by %.3g", fx, err_max);
        lr_tmodel_free(tm);
    }
    ck_assert_msg(fabs(loss[0] - loss[1]) <= TOL_LOSS * fmax(1, fabs(loss[0])),
                  "%s: LoRA loss %.8f in one graph, %.8f with gradient caching", fx, loss[0], loss[1]);
    free(g0);
    ctr_case_close(&c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_adamw);
    tcase_add_test(tc, test_clip_schedule);
    tcase_add_test(tc, test_rng);
    tcase_add_test(tc, test_infonce_distill);
    tcase_add_test(tc, test_xent);
    tcase_add_test(tc, test_data_rows);
    tcase_add_test(tc, test_data_shared);
    tcase_add_loop_test(tc, test_grad_contrastive, 0, LR_ARRAY_LEN_(fixtures));
    tcase_add_loop_test(tc, test_grad_bf16, 0, LR_ARRAY_LEN_(fixtures));
    tcase_add_loop_test(tc, test_grad_variants, 0, LR_ARRAY_LEN_(variant_fixtures) * N_VARIANTS);
    tcase_add_test(tc, test_lora_fd);
    tcase_add_loop_test(tc, test_lora_ref, 0, LR_ARRAY_LEN_(fixtures));
    tcase_add_loop_test(tc, test_lora_chunked, 0, LR_ARRAY_LEN_(fixtures));
    tcase_add_loop_test(tc, test_grad_lm, 0, LR_ARRAY_LEN_(fixtures));
    tcase_add_loop_test(tc, test_grad_threads, 0, LR_ARRAY_LEN_(fixtures));
    suite_add_tcase(s, tc);
    return s;
}

/* Make the variants' references (see test_grad_variants); -1 when
 * /usr/bin/python3 has no PyTorch. */
static int make_variant_refs(void)
{
    const char *src = getenv("LR_SRCDIR"), *shared = shared_dir();
    if (!src || system("/usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1") != 0) return -1;
    snprintf(variant_refs, sizeof variant_refs, "/tmp/lr-test-grads.XXXXXX");
    if (!mkdtemp(variant_refs)) {
        perror(variant_refs);
        exit(EXIT_FAILURE);
    }
    char cmd[8192];
    int n = snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/torchref-run.py' '%s/tools/torchref.py'", src, shared);
    for (int i = 0; i < LR_ARRAY_LEN_(variant_fixtures); i++)
        for (int v = 0; v < N_VARIANTS; v++)
            n += snprintf(cmd + n, sizeof cmd - n,
                          "%s contrastive-grad --model '%s/fixtures/%s' --batch '%s/fixtures/%s/ref-batch.json'"
                          " --pool %s %s --tau %g --out '%s/%s-%s.safetensors'",
                          i || v ? " +" : "", shared, variant_fixtures[i], shared, variant_fixtures[i],
                          variants[v].pool == LR_POOL_MEAN ? "mean" : "last",
                          variants[v].normalize ? "--normalize" : "--no-normalize", variants[v].tau, variant_refs,
                          variant_fixtures[i], variants[v].tag);
    snprintf(cmd + n, sizeof cmd - n, " >/dev/null");
    if (system(cmd) != 0) {
        fprintf(stderr, "FAIL: %s\n", cmd);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", variant_refs);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", variant_refs);
        exit(EXIT_FAILURE);
    }
    return 0;
}

int main(void)
{
    bool no_torch = shared_dir() && make_variant_refs() != 0;
    if (no_torch) {
        if (getenv("CI")) {
            fprintf(stderr, "FAIL: CI is set but /usr/bin/python3 has no torch and numpy "
                            "(python3-torch python3-numpy): gradient variants not checked\n");
            return EXIT_FAILURE;
        }
        fprintf(stderr, "skip: /usr/bin/python3 has no torch: mean-pooling and unnormalised "
                        "gradients not checked\n");
    }
    int rc = run_suite_shared(suite());
    if (variant_refs[0]) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", variant_refs);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", variant_refs);
    }
    return rc == EXIT_SUCCESS && no_torch ? 77 : rc;
}
