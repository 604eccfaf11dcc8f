/* compress-check - compare tool outputs with the fixtures' float64
 * references, for tests/compress.sh.
 *
 *   compress-check scores SCORES.mp REF.safetensors
 *       importance, layer{i}.mlp_act_absmean and _l2 within TOL_* (relative)
 *   compress-check forward MODEL IDS.json REF.safetensors
 *       final-norm hidden states of MODEL over IDS within TOL_HIDDEN of "hidden"
 *       (relative to the largest reference magnitude); REF "-" only runs it
 *   compress-check same-scores A.mp B.mp TOL
 *       two scores streams with the same header and layout, every value
 *       within TOL (relative to its array's largest magnitude)
 *   compress-check digest MODEL
 *       print the model digest
 *   compress-check bench MODEL THREADS N_SEQ LEN SECONDS
 *       time forwards of N_SEQ random sequences of LEN tokens for about
 *       SECONDS; print "tokens/s GFLOP/s tokens/CPU-second" (for
 *       tests/bench-compress)
 *   compress-check gemm THREADS T HIDDEN WIDTH SECONDS
 *       time the MLP's GEMMs at one width (T tokens): gate and up
 *       [T x HIDDEN] x [HIDDEN x WIDTH], down [T x WIDTH] x [WIDTH x HIDDEN];
 *       print the GFLOP/s of the pass with the least CPU time
 * Exit 0 when within tolerance, 1 otherwise (with a line saying why). */
#include "config.h"
#include "lr.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LR_MIN_(a, b) ((a) < (b) ? (a) : (b))
#define LR_MAX_(a, b) ((a) > (b) ? (a) : (b))

static void __attribute__((noreturn)) die(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "compress-check: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n");
    exit(1);
}

/* One F64 tensor of a safetensors file, or NULL when absent. */
static double *st_f64(const char *path, const char *name, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) die("%s: cannot open%s", path, "");
    uint64_t hlen;
    if (fread(&hlen, 8, 1, f) != 1 || hlen > (1u << 26)) die("%s: bad header%s", path, "");
    char *h = malloc(hlen + 1);
    if (fread(h, 1, hlen, f) != hlen) die("%s: short header%s", path, "");
    h[hlen] = 0;
    json_t *j = json_loads(h, 0, NULL), *t = j ? json_object_get(j, name) : NULL;
    double *v = NULL;
    if (t) {
        if (strcmp(json_string_value(json_object_get(t, "dtype")), "F64") != 0)
            die("%s: %s is not F64", path, name);
        json_t *off = json_object_get(t, "data_offsets");
        size_t a = json_integer_value(json_array_get(off, 0)),
               b = json_integer_value(json_array_get(off, 1));
        *n = (b - a) / 8;
        v = malloc(b - a + 8);
        if (fseek(f, (long)(8 + hlen + a), SEEK_SET) != 0 || fread(v, 1, b - a, f) != b - a)
            die("%s: %s: short data", path, name);
    }
    json_decref(j);
    free(h);
    fclose(f);
    return v;
}

/* Tolerances, each 10x or more the largest error measured over the
 * fixtures in tests/compress.sh (the "worst" lines it prints): importance
 * 1.04e-7 of each value; channel absmean and l2 2.8e-7 of the largest
 * value; hidden states 2.6e-7 of the largest value. */
#define TOL_IMPORTANCE 2e-6
#define TOL_ACT 5e-6
#define TOL_HIDDEN 5e-6

static double rel_err(const float *a, const double *r, size_t n)
{
    double dmax = 0, rmax = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - r[i]);
        if (isnan(d)) return INFINITY;
        dmax = fmax(dmax, d);
        rmax = fmax(rmax, fabs(r[i]));
    }
    return rmax > 0 ? dmax / rmax : dmax;
}

static int check_scores(const char *sp, const char *ref)
{
    lr_error err = {{0}};
    lr_scores *s = lr_scores_load(sp, &err);
    if (!s) die("%s%s", err.msg, "");
    size_t n;
    double *imp = st_f64(ref, "importance", &n), worst = 0, worst_imp = 0;
    if (!imp || n != 2 * (size_t)s->n_layers) die("%s: importance has another shape than %s", ref, sp);
    int bad = 0;
    for (int l = 0; l < s->n_layers; l++) {
        double got[2] = {s->attn[l], s->mlp[l]};
        for (int k = 0; k < 2; k++) {
            double r = imp[2 * l + k];
            if (isnan(r) != isnan(got[k])) {
                printf("layer %d %s: %g, reference %g\n", l, k ? "mlp" : "attn", got[k], r);
                bad++;
            } else if (!isnan(r)) {
                double e = fabs(got[k] - r) / fabs(r);
                worst_imp = fmax(worst_imp, e);
                if (e > TOL_IMPORTANCE) {
                    printf("layer %d %s: %.9g, reference %.9g\n", l, k ? "mlp" : "attn", got[k], r);
                    bad++;
                }
            }
        }
        static const char *what[2] = {"absmean", "l2"};
        for (int k = 0; k < 2; k++) {
            char name[64];
            snprintf(name, sizeof name, "layer%d.mlp_act_%s", l, what[k]);
            double *v = st_f64(ref, name, &n);
            const float *got_v = k ? s->l2[l] : s->absmean[l];
            if (!v) {
                if (s->mlp_width[l]) printf("layer %d: reference has no %s\n", l, name), bad++;
                continue;
            }
            if (!got_v || (size_t)s->mlp_width[l] != n) {
                printf("layer %d: %s missing or of another width\n", l, what[k]);
                bad++;
            } else {
                double e = rel_err(got_v, v, n);
                worst = fmax(worst, e);
                if (e > TOL_ACT) printf("layer %d %s: relative error %g\n", l, what[k], e), bad++;
            }
            free(v);
        }
    }
    printf("scores: worst relative error: importance %.3g, channel statistics %.3g\n", worst_imp, worst);
    free(imp);
    lr_scores_free(s);
    return bad ? 1 : 0;
}

static int check_forward(const char *model, const char *ids_path, const char *ref)
{
    lr_error err = {{0}};
    lr_threads_init(1);
    lr_checkpoint *ck = lr_checkpoint_load(model, &err);
    if (!ck) die("%s%s", err.msg, "");
    lr_model *m = lr_model_new(ck, &err);
    if (!m) die("%s%s", err.msg, "");
    json_t *j = json_load_file(ids_path, 0, NULL);
    if (!json_is_array(j)) die("%s: not a JSON array%s", ids_path, "");
    int ns = (int)json_array_size(j), tot = 0;
    for (int i = 0; i < ns; i++) tot += (int)json_array_size(json_array_get(j, i));
    int32_t *ids = malloc(tot * sizeof *ids);
    int *lens = malloc(ns * sizeof *lens), k = 0;
    for (int i = 0; i < ns; i++) {
        json_t *a = json_array_get(j, i);
        lens[i] = (int)json_array_size(a);
        for (int q = 0; q < lens[i]; q++) ids[k++] = (int32_t)json_integer_value(json_array_get(a, q));
    }
    json_decref(j);
    int h = ck->cfg.hidden;
    float *hid = malloc((size_t)tot * h * sizeof *hid);
    if (lr_model_forward(m, ids, lens, ns, hid, NULL, &err) < 0) die("%s%s", err.msg, "");
    size_t n;
    double e = 0;
    if (strcmp(ref, "-") == 0) {   /* runs: that is all */
        for (size_t i = 0; i < (size_t)tot * h; i++)
            if (!isfinite(hid[i])) die("%s: non-finite hidden state%s", model, "");
        printf("forward: %d tokens\n", tot);
    } else {
        double *r = st_f64(ref, "hidden", &n);
        if (!r || n != (size_t)tot * h) die("%s: hidden has another shape than %s's", ref, model);
        e = rel_err(hid, r, n);
        printf("forward: relative error %.3g\n", e);
        free(r);
    }
    free(hid), free(ids), free(lens);
    lr_model_free(m);
    lr_checkpoint_free(ck);
    return e <= TOL_HIDDEN ? 0 : 1;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int bench(const char *model, int threads, int ns, int len, double secs)
{
    lr_error err = {{0}};
    lr_threads_init(threads);
    lr_checkpoint *ck = lr_checkpoint_load(model, &err);
    if (!ck) die("%s%s", err.msg, "");
    lr_model *m = lr_model_new(ck, &err);
    if (!m) die("%s%s", err.msg, "");
    int32_t *ids = malloc((size_t)ns * len * sizeof *ids);
    int *lens = malloc(ns * sizeof *lens);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < ns * len; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ids[i] = (int32_t)(3 + x % (uint64_t)(ck->cfg.vocab - 3));
    }
    for (int i = 0; i < ns; i++) lens[i] = len;
    double flops = lr_model_flops(m, lens, ns);
    /* a short warm-up forward (first touch of weights and scratch), then
     * as many full ones as fit in the time */
    int one = LR_MIN_(len, 64);
    if (lr_model_forward(m, ids, &one, 1, NULL, NULL, &err) < 0) die("%s%s", err.msg, "");
    int reps = 0;
    double t0 = lr_now(), c0 = cpu_now(), t;
    do {
        if (lr_model_forward(m, ids, lens, ns, NULL, NULL, &err) < 0) die("%s%s", err.msg, "");
        reps++;
        t = lr_now() - t0;
    } while (t < secs);
    double c = cpu_now() - c0;
    printf("%.1f %.1f %.1f\n", (double)reps * ns * len / t, reps * flops / t / 1e9,
           (double)reps * ns * len / c);
    free(ids), free(lens);
    lr_model_free(m);
    lr_checkpoint_free(ck);
    return 0;
}

/* Best CPU time of one pass: CPU time, unlike wall time, is not inflated
 * by other processes on a shared machine. */
static int gemm(int threads, int t, int h, int w, double secs)
{
    lr_threads_init(threads);
    float *x = malloc((size_t)t * h * sizeof *x), *wg = malloc((size_t)w * h * sizeof *wg);
    float *a = malloc((size_t)t * w * sizeof *a), *y = malloc((size_t)t * h * sizeof *y);
    for (size_t i = 0; i < (size_t)t * h; i++) x[i] = (float)((i * 7919) % 1000) / 1000.0f;
    for (size_t i = 0; i < (size_t)w * h; i++) wg[i] = (float)((i * 104729) % 1000) / 1000.0f;
    double best = INFINITY, t0 = lr_now();
    int reps = 0;
    do {
        double c0 = cpu_now();
        lr_sgemm(false, true, t, w, h, 1.0f, x, h, wg, h, 0.0f, a, w);   /* gate */
        lr_sgemm(false, true, t, w, h, 1.0f, x, h, wg, h, 0.0f, a, w);   /* up */
        lr_sgemm(false, true, t, h, w, 1.0f, a, w, wg, w, 0.0f, y, h);   /* down */
        best = fmin(best, cpu_now() - c0);
        reps++;
    } while (lr_now() - t0 < secs || reps < 3);
    printf("%.1f\n", 3.0 * 2.0 * t * h * w / best / 1e9);
    free(x), free(wg), free(a), free(y);
    return 0;
}

/* Two scores streams of the same model and calibration: the same header
 * and layout, every number within tol of the other (relative to the
 * largest magnitude of its array).  Prints the worst relative gap. */
static double gap(const double *a, const double *b, const float *fa, const float *fb, int n)
{
    double d = 0, m = 0;
    for (int i = 0; i < n; i++) {
        double x = fa ? fa[i] : a[i], y = fb ? fb[i] : b[i];
        if (isnan(x) && isnan(y)) continue;
        if (isnan(x) != isnan(y)) return INFINITY;
        if (fabs(x - y) > d) d = fabs(x - y);
        if (fabs(x) > m) m = fabs(x);
    }
    return m > 0 ? d / m : d;
}

static int same_scores(const char *pa, const char *pb, double tol)
{
    lr_error err = {{0}};
    lr_scores *a = lr_scores_load(pa, &err), *b = a ? lr_scores_load(pb, &err) : NULL;
    if (!a || !b) die("%s%s", err.msg, "");
    if (strcmp(a->model, b->model) || a->n_layers != b->n_layers || a->tokens != b->tokens ||
        a->sequences != b->sequences || strcmp(a->channel_metric, b->channel_metric)) {
        printf("headers differ: tokens %lld vs %lld, sequences %lld vs %lld\n", (long long)a->tokens,
               (long long)b->tokens, (long long)a->sequences, (long long)b->sequences);
        return 1;
    }
    double worst = LR_MAX_(gap(a->attn, b->attn, NULL, NULL, a->n_layers),
                           gap(a->mlp, b->mlp, NULL, NULL, a->n_layers));
    for (int l = 0; l < a->n_layers; l++) {
        int w = a->mlp_width[l];
        if (w != b->mlp_width[l] || a->attn_present[l] != b->attn_present[l]) {
            printf("layer %d: layouts differ\n", l);
            return 1;
        }
        if (!w) continue;
        float *fa[3] = {a->channel[l], a->absmean[l], a->l2[l]}, *fb[3] = {b->channel[l], b->absmean[l], b->l2[l]};
        for (int k = 0; k < 3; k++) {
            if (!fa[k] != !fb[k]) return printf("layer %d: statistics present in one only\n", l), 1;
            if (fa[k]) worst = LR_MAX_(worst, gap(NULL, NULL, fa[k], fb[k], w));
        }
    }
    printf("worst relative gap %.3g\n", worst);
    lr_scores_free(a);
    lr_scores_free(b);
    return worst <= tol ? 0 : 1;
}

int main(int argc, char **argv)
{
    lr_cli_init("compress-check");
    if (argc == 4 && strcmp(argv[1], "scores") == 0) return check_scores(argv[2], argv[3]);
    if (argc == 5 && strcmp(argv[1], "same-scores") == 0)
        return same_scores(argv[2], argv[3], atof(argv[4]));
    if (argc == 5 && strcmp(argv[1], "forward") == 0)
        return check_forward(argv[2], argv[3], argv[4]);
    if (argc == 3 && strcmp(argv[1], "digest") == 0) {
        lr_error err = {{0}};
        lr_checkpoint *ck = lr_checkpoint_load(argv[2], &err);
        if (!ck) die("%s%s", err.msg, "");
        printf("%s\n", lr_checkpoint_digest(ck));
        lr_checkpoint_free(ck);
        return 0;
    }
    if (argc == 7 && strcmp(argv[1], "bench") == 0)
        return bench(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atof(argv[6]));
    if (argc == 7 && strcmp(argv[1], "gemm") == 0)
        return gemm(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atof(argv[6]));
    fprintf(stderr, "usage: compress-check scores S REF | forward MODEL IDS REF | digest MODEL\n"
                    "       compress-check bench MODEL THREADS N_SEQ LEN SECONDS\n"
                    "       compress-check gemm THREADS T HIDDEN WIDTH SECONDS\n");
    return 2;
}
