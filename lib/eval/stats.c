/*
 * stats.c - paired significance tests over per-query values: Student's t,
 * Wilcoxon signed-rank, Fisher's randomization test, the paired bootstrap
 * interval of the mean difference, Holm and Bonferroni corrections, and
 * the pairing of two evaluations query by query.
 *
 * Distributions come from GSL; the exact null distribution of the
 * signed-rank statistic is counted here (subsets of 1..n by their sum).
 */
#define _GNU_SOURCE 1 /* qsort_r */
#include "config.h"
#include "internal.h"

#include <math.h>
#include <gsl/gsl_cdf.h>

static const char *const test_names[] = {"t", "randomization", "wilcoxon"};
static const char *const correction_names[] = {"holm", "bonferroni", "none"};

int lr_test_parse(const char *s, lr_test *t)
{
    int i = lr_name_index(test_names, LR_ARRAY_LEN(test_names), s);
    if (i >= 0) *t = (lr_test)i;
    return i < 0 ? -1 : 0;
}

const char *lr_test_name(lr_test t)
{
    return lr_name_at(test_names, LR_ARRAY_LEN(test_names), (unsigned)t);
}

int lr_correction_parse(const char *s, lr_correction *c)
{
    int i = lr_name_index(correction_names, LR_ARRAY_LEN(correction_names), s);
    if (i >= 0) *c = (lr_correction)i;
    return i < 0 ? -1 : 0;
}

const char *lr_correction_name(lr_correction c)
{
    return lr_name_at(correction_names, LR_ARRAY_LEN(correction_names), (unsigned)c);
}

double lr_ttest_paired(const double *x, const double *y, int n)
{
    double mean = 0;
    bool constant = true;
    for (int i = 0; i < n; i++) {
        double d = y[i] - x[i];
        mean += d;
        if (fabs(d - (y[0] - x[0])) > LR_STATS_TIE) constant = false;
    }
    mean /= n;
    if (constant) return fabs(mean) <= LR_STATS_TIE ? 1.0 : 0.0;
    double ss = 0;
    for (int i = 0; i < n; i++) {
        double e = y[i] - x[i] - mean;
        ss += e * e;
    }
    double t = mean / sqrt(ss / (n - 1) / n);
    double p = 2 * gsl_cdf_tdist_Q(fabs(t), n - 1);
    return p > 1 ? 1 : p;
}

typedef struct {
    double a;   /* |d| */
    int neg;
} absdiff;

static int cmp_absdiff(const void *p, const void *q)
{
    double a = ((const absdiff *)p)->a, b = ((const absdiff *)q)->a;
    return (a > b) - (a < b);
}

/* Probability that the signed-rank sum of n untied ranks is <= r and
 * >= r: counts of the subsets of 1..n by their sum, over 2^n. */
static double wilcoxon_exact_p(int n, long r)
{
    long total = (long)n * (n + 1) / 2;
    double *c = lr_xcalloc(total + 1, sizeof *c);
    c[0] = 1;
    for (int k = 1; k <= n; k++)
        for (long s = (long)k * (k + 1) / 2; s >= k; s--) c[s] += c[s - k];
    double p;
    if (r == total / 2) {
        p = 1;   /* the centre of the distribution */
    } else {
        double le = 0, ge = 0;
        for (long s = 0; s <= total; s++) {
            if (s <= r) le += c[s];
            if (s >= r) ge += c[s];
        }
        p = 2 * (le < ge ? le : ge) / ldexp(1.0, n);
        if (p > 1) p = 1;
    }
    free(c);
    return p;
}

double lr_wilcoxon(const double *x, const double *y, int n, bool *exact)
{
    absdiff *d = lr_xmalloc((n + 1) * sizeof *d);
    int m = 0;
    for (int i = 0; i < n; i++) {
        double v = y[i] - x[i];
        if (fabs(v) <= LR_STATS_TIE) continue;   /* zero_method "wilcox" */
        d[m++] = (absdiff){fabs(v), v < 0};
    }
    if (exact) *exact = false;
    if (m == 0) {
        free(d);
        return 1.0;
    }
    qsort(d, m, sizeof *d, cmp_absdiff);
    double rplus = 0, tie_term = 0;
    bool ties = false;
    for (int i = 0, j; i < m; i = j) {
        for (j = i + 1; j < m && d[j].a - d[i].a <= LR_STATS_TIE; j++) {}
        double rank = (i + 1 + j) / 2.0, t = j - i;
        if (t > 1) ties = true;
        tie_term += t * (t * t - 1);
        for (int k = i; k < j; k++)
            if (!d[k].neg) rplus += rank;
    }
    free(d);
    double p;
    if (m == n && n <= 50 && !ties) {
        if (exact) *exact = true;
        p = wilcoxon_exact_p(n, lrint(rplus));
    } else {
        double rminus = m * (m + 1.0) / 2 - rplus;
        double tstat = rplus < rminus ? rplus : rminus;
        double mean = m * (m + 1.0) / 4;
        double var = (m * (m + 1.0) * (2.0 * m + 1) - 0.5 * tie_term) / 24;
        double z = (tstat - mean) / sqrt(var);
        p = 2 * gsl_cdf_ugaussian_Q(fabs(z));
    }
    return p > 1 ? 1 : p;
}

double lr_randomization(const double *x, const double *y, int n, long trials, uint64_t seed)
{
    double *d = lr_xmalloc((n + 1) * sizeof *d), obs = 0;
    for (int i = 0; i < n; i++) {
        d[i] = y[i] - x[i];
        obs += d[i];
    }
    double bound = fabs(obs) - n * LR_STATS_TIE;   /* |mean| >= |mean(d)| - tie */
    lr_rng rng;
    lr_rng_seed(&rng, seed);
    long count = 0;
    for (long t = 0; t < trials; t++) {
        double s = 0;
        uint64_t bits = 0;
        for (int i = 0; i < n; i++) {
            if ((i & 63) == 0) bits = lr_rng_next(&rng);
            s += (bits & 1) ? -d[i] : d[i];
            bits >>= 1;
        }
        if (fabs(s) >= bound) count++;
    }
    free(d);
    return (count + 1.0) / (trials + 1.0);
}

static int cmp_double(const void *p, const void *q)
{
    double a = *(const double *)p, b = *(const double *)q;
    return (a > b) - (a < b);
}

static double quantile(const double *v, long n, double q)
{
    double h = (n - 1) * q;
    long i = (long)floor(h);
    if (i >= n - 1) return v[n - 1];
    return v[i] + (h - i) * (v[i + 1] - v[i]);
}

void lr_bootstrap_ci(const double *x, const double *y, int n, long resamples, double level,
                     uint64_t seed, double *lo, double *hi)
{
    double *d = lr_xmalloc((n + 1) * sizeof *d);
    double *means = lr_xmalloc((resamples + 1) * sizeof *means);
    for (int i = 0; i < n; i++) d[i] = y[i] - x[i];
    lr_rng rng;
    lr_rng_seed(&rng, seed);
    for (long b = 0; b < resamples; b++) {
        double s = 0;
        for (int i = 0; i < n; i++)
            s += d[(size_t)(((unsigned __int128)lr_rng_next(&rng) * (unsigned)n) >> 64)];
        means[b] = s / n;
    }
    qsort(means, resamples, sizeof *means, cmp_double);
    *lo = quantile(means, resamples, (1 - level) / 2);
    *hi = quantile(means, resamples, (1 + level) / 2);
    free(means);
    free(d);
}

static int cmp_p_index(const void *a, const void *b, void *ctx)
{
    const double *p = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    if (p[i] != p[j]) return p[i] < p[j] ? -1 : 1;
    return (i > j) - (i < j);
}

void lr_p_adjust(const double *p, double *out, int n, lr_correction c)
{
    if (c == LR_CORRECT_NONE) {
        memmove(out, p, n * sizeof *out);
    } else if (c == LR_CORRECT_BONFERRONI) {
        for (int i = 0; i < n; i++) out[i] = p[i] * n < 1 ? p[i] * n : 1;
    } else {
        int *order = lr_xmalloc((n + 1) * sizeof *order);
        double *adj = lr_xmalloc((n + 1) * sizeof *adj);
        for (int i = 0; i < n; i++) order[i] = i;
        qsort_r(order, n, sizeof *order, cmp_p_index, (void *)p);
        double run = 0;
        for (int k = 0; k < n; k++) {
            double v = p[order[k]] * (n - k);
            if (v > 1) v = 1;
            if (v > run) run = v;
            adj[order[k]] = run;
        }
        memcpy(out, adj, n * sizeof *out);
        free(adj);
        free(order);
    }
}

static int find_qid(const lr_eval_result *r, const char *qid)
{
    int lo = 0, hi = r->nq - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(r->qids[mid], qid);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

int lr_eval_pair(const lr_trec *qrels, const lr_eval_result *a, const lr_eval_result *b, int m,
                 bool complete, double *x, double *y, int *common)
{
    int n = 0, both = 0;
    if (complete) {
        for (int i = 0; i < qrels->n; i++) {
            int ia = find_qid(a, qrels->topics[i].qid), ib = find_qid(b, qrels->topics[i].qid);
            x[n] = ia >= 0 ? a->values[(size_t)ia * a->nm + m] : 0;
            y[n] = ib >= 0 ? b->values[(size_t)ib * b->nm + m] : 0;
            n++;
            both += ia >= 0 && ib >= 0;
        }
    } else {
        for (int ia = 0; ia < a->nq; ia++) {
            int ib = find_qid(b, a->qids[ia]);
            if (ib < 0) continue;
            x[n] = a->values[(size_t)ia * a->nm + m];
            y[n] = b->values[(size_t)ib * b->nm + m];
            n++;
        }
        both = n;
    }
    if (common) *common = both;
    return n;
}

lr_eval_result *lr_eval_mean(const lr_trec *qrels, lr_eval_result *const *rs, int n,
                             bool complete, lr_error *err)
{
    if (n < 1) {
        lr_errorf(err, "no run to average");
        return NULL;
    }
    int nm = rs[0]->nm;
    for (int k = 1; k < n; k++)
        if (rs[k]->nm != nm) {
            lr_errorf(err, "runs of one system evaluated on different measures");
            return NULL;
        }
    lr_eval_result *r = calloc(1, sizeof *r);
    if (!r) goto oom;
    r->nm = nm;
    r->measures = malloc((size_t)nm * sizeof *r->measures);
    r->mean = calloc((size_t)nm, sizeof *r->mean);
    /* candidate queries: the first run's (all runs must have them), or with
     * complete the qrels' (a query no run has is left out, as one run's
     * evaluation leaves it out) */
    int cand = complete ? qrels->n : rs[0]->nq;
    r->qids = calloc((size_t)cand + 1, sizeof *r->qids);
    r->values = calloc(((size_t)cand + 1) * nm, sizeof *r->values);
    if (!r->measures || !r->mean || !r->qids || !r->values) goto oom;
    memcpy(r->measures, rs[0]->measures, (size_t)nm * sizeof *r->measures);
    for (int i = 0; i < cand; i++) {
        const char *qid = complete ? qrels->topics[i].qid : rs[0]->qids[i];
        double *v = &r->values[(size_t)r->nq * nm];
        int present = 0;
        for (int k = 0; k < n; k++) {
            int j = find_qid(rs[k], qid);
            if (j < 0) continue;
            present++;
            for (int m = 0; m < nm; m++) v[m] += rs[k]->values[(size_t)j * nm + m];
        }
        if (complete ? present == 0 : present < n) {
            for (int m = 0; m < nm; m++) v[m] = 0;
            continue;
        }
        if (!(r->qids[r->nq] = strdup(qid))) goto oom;
        for (int m = 0; m < nm; m++) {
            v[m] /= n;
            r->mean[m] += v[m];
        }
        r->nq++;
    }
    r->n_avg = complete ? qrels->n : r->nq;
    for (int m = 0; m < nm; m++) r->mean[m] = r->n_avg ? r->mean[m] / r->n_avg : 0;
    return r;
oom:
    lr_eval_result_free(r);
    lr_errorf(err, "out of memory");
    return NULL;
}
