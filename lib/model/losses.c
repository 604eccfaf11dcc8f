/* losses.c - InfoNCE, score distillation and cross-entropy, each with its
 * gradient.  The batch-level losses are small (queries x passages), so
 * they are computed in double. */
#include "config.h"
#include "model/model-internal.h"   /* lr_expf */

#include <math.h>

/* Normalised copies (double) of n rows; norms kept for the backward. */
static double *normalise_rows(const float *x, int n, int dim, bool normalize, double *norms)
{
    double *y = lr_xmalloc((size_t)n * dim * sizeof(double));
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int k = 0; k < dim; k++) s += (double)x[(size_t)i * dim + k] * x[(size_t)i * dim + k];
        double nrm = sqrt(s);
        /* as torch.nn.functional.normalize: divide by max(norm, 1e-12) */
        if (nrm < 1e-12) nrm = 1e-12;
        norms[i] = normalize ? nrm : 1.0;
        for (int k = 0; k < dim; k++) y[(size_t)i * dim + k] = x[(size_t)i * dim + k] / norms[i];
    }
    return y;
}

/* dx = (dy - y (y . dy)) / |x| for y = x / |x|; plain copy without normalisation. */
static void normalise_backward(const double *y, const double *dy, const double *norms, int n,
                               int dim, bool normalize, float *dx)
{
    for (int i = 0; i < n; i++) {
        const double *yi = y + (size_t)i * dim, *dyi = dy + (size_t)i * dim;
        double dot = 0;
        if (normalize && norms[i] > 1e-12)
            for (int k = 0; k < dim; k++) dot += yi[k] * dyi[k];
        for (int k = 0; k < dim; k++)
            dx[(size_t)i * dim + k] = (float)((dyi[k] - (normalize ? yi[k] * dot : 0)) / norms[i]);
    }
}

/* out += (ds / tau) * src, or (ds / tau)^T * src when transpose. */
static void add_scaled_scores(const double *ds, int nq, int np, double tau, bool transpose,
                              const double *src, int dim, double *out)
{
    for (int i = 0; i < nq; i++)
        for (int j = 0; j < np; j++) {
            double c = ds[(size_t)i * np + j] / tau;
            if (c == 0) continue;
            const double *s = src + (size_t)(transpose ? i : j) * dim;
            double *o = out + (size_t)(transpose ? j : i) * dim;
            for (int k = 0; k < dim; k++) o[k] += c * s[k];
        }
}

/* Given dS [nq x np] (the gradient of the loss w.r.t. the scaled scores
 * s = qn pn^T / tau), produce dq and dp. */
static void scores_backward(const double *qn, const double *pn, const double *qnorm,
                            const double *pnorm, const double *ds, int nq, int np, int dim,
                            double tau, bool normalize, float *dq, float *dp)
{
    if (dq) {
        double *dqn = lr_xcalloc((size_t)nq * dim, sizeof(double));
        add_scaled_scores(ds, nq, np, tau, false, pn, dim, dqn);
        normalise_backward(qn, dqn, qnorm, nq, dim, normalize, dq);
        free(dqn);
    }
    if (dp) {
        double *dpn = lr_xcalloc((size_t)np * dim, sizeof(double));
        add_scaled_scores(ds, nq, np, tau, true, qn, dim, dpn);
        normalise_backward(pn, dpn, pnorm, np, dim, normalize, dp);
        free(dpn);
    }
}

static double *score_matrix(const double *qn, const double *pn, int nq, int np, int dim,
                            double tau)
{
    double *s = lr_xmalloc((size_t)nq * np * sizeof(double));
    for (int i = 0; i < nq; i++)
        for (int j = 0; j < np; j++) {
            double d = 0;
            for (int k = 0; k < dim; k++) d += qn[(size_t)i * dim + k] * pn[(size_t)j * dim + k];
            s[(size_t)i * np + j] = d / tau;
        }
    return s;
}

/* In place: row <- softmax(row); returns log-sum-exp. */
static double softmax_row(double *row, int n)
{
    double mx = -INFINITY;
    for (int j = 0; j < n; j++) if (row[j] > mx) mx = row[j];
    double sum = 0;
    for (int j = 0; j < n; j++) sum += exp(row[j] - mx);
    double lse = mx + log(sum);
    for (int j = 0; j < n; j++) row[j] = exp(row[j] - lse);
    return lse;
}

/* A batch's scores in double: normalised rows with their norms, and
 * S = qn pn^T / tau, which each loss turns in place into dL/dS before
 * scored_close() carries it back to the embeddings. */
typedef struct scored {
    double *qnorm, *pnorm, *qn, *pn, *s;
} scored;

static void scored_open(scored *b, const float *q, int nq, const float *p, int np, int dim,
                        double tau, bool normalize)
{
    b->qnorm = lr_xmalloc((size_t)nq * sizeof(double));
    b->pnorm = lr_xmalloc((size_t)np * sizeof(double));
    b->qn = normalise_rows(q, nq, dim, normalize, b->qnorm);
    b->pn = normalise_rows(p, np, dim, normalize, b->pnorm);
    b->s = score_matrix(b->qn, b->pn, nq, np, dim, tau);
}

static void scored_close(scored *b, int nq, int np, int dim, double tau, bool normalize,
                         float *dq, float *dp)
{
    scores_backward(b->qn, b->pn, b->qnorm, b->pnorm, b->s, nq, np, dim, tau, normalize, dq,
                    dp);
    free(b->s);
    free(b->qn);
    free(b->pn);
    free(b->qnorm);
    free(b->pnorm);
}

double lr_infonce(const float *q, int nq, const float *p, int np, int dim, const int *pos,
                  double tau, bool normalize, double scale, float *dq, float *dp, float *scores)
{
    scored b;
    scored_open(&b, q, nq, p, np, dim, tau, normalize);
    if (scores)
        for (size_t i = 0; i < (size_t)nq * np; i++) scores[i] = (float)b.s[i];
    double loss = 0;
    for (int i = 0; i < nq; i++) {
        double *row = b.s + (size_t)i * np;
        double target = row[pos[i]];
        double lse = softmax_row(row, np);   /* row now holds probabilities */
        loss += lse - target;
        for (int j = 0; j < np; j++) row[j] = (row[j] - (j == pos[i])) * scale / nq;
    }
    scored_close(&b, nq, np, dim, tau, normalize, dq, dp);
    return loss / nq;
}

double lr_distill_kl(const float *q, int nq, const float *p, int np, int dim,
                     const float *teacher, double tau, double tau_teacher, bool normalize,
                     double scale, float *dq, float *dp)
{
    scored b;
    scored_open(&b, q, nq, p, np, dim, tau, normalize);
    double *t = lr_xmalloc((size_t)np * sizeof(double));
    double loss = 0;
    for (int i = 0; i < nq; i++) {
        double *row = b.s + (size_t)i * np;
        for (int j = 0; j < np; j++) t[j] = teacher[(size_t)i * np + j] / tau_teacher;
        softmax_row(row, np);   /* student and teacher probabilities */
        softmax_row(t, np);
        for (int j = 0; j < np; j++)
            if (t[j] > 0) loss += t[j] * (log(t[j]) - log(row[j] > 0 ? row[j] : 1e-300));
        for (int j = 0; j < np; j++) row[j] = (row[j] - t[j]) * scale / nq;
    }
    free(t);
    scored_close(&b, nq, np, dim, tau, normalize, dq, dp);
    return loss / nq;
}

/* -log softmax(row)[target]; d (nullable, may alias row) = scale * (softmax - onehot) */
LR_CLONES static double xent_row(float *row, int vocab, int target, float scale, float *d)
{
    float mx = -INFINITY;
    for (int j = 0; j < vocab; j++) mx = row[j] > mx ? row[j] : mx;
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < vocab; j++) sum += lr_expf(row[j] - mx);
    double lse = mx + log((double)sum);
    double loss = lse - row[target];
    if (d) {
        const float c = scale / sum;
#pragma omp simd
        for (int j = 0; j < vocab; j++) d[j] = lr_expf(row[j] - mx) * c;
        d[target] -= scale;
    }
    return loss;
}

typedef struct xent_job {
    float *logits, *dlogits;
    int vocab;
    const int32_t *targets;
    float scale;
} xent_job;

static double xent_rows(void *ctx, long lo, long hi)
{
    const xent_job *j = ctx;
    double total = 0;
    for (long i = lo; i < hi; i++)
        total += xent_row(j->logits + (size_t)i * j->vocab, j->vocab, j->targets[i], j->scale,
                          j->dlogits ? j->dlogits + (size_t)i * j->vocab : NULL);
    return total;
}

double lr_xent(float *logits, int n, int vocab, const int32_t *targets, double scale,
               float *dlogits)
{
    xent_job j = {logits, dlogits, vocab, targets, (float)scale};
    return lr_par_sum(n, 4.0 * n * vocab, xent_rows, &j);   /* an exp per logit: ~4 elements */
}
