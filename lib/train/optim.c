/* optim.c - AdamW, gradient clipping and learning-rate schedules. */
#include "config.h"
#include "internal.h"

#include <math.h>

void lr_adamw_init(lr_adamw *o)
{
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    o->weight_decay = 0.01;
    o->step = 0;
}

typedef struct adamw_job {
    float *w, *g, *m, *v;
    float b1, b2, decay, step_size, inv_sqrt_bc2, eps;
} adamw_job;

static void adamw_span(void *ctx, long lo, long hi)
{
    const adamw_job *j = ctx;
    const float b1 = j->b1, b2 = j->b2, decay = j->decay, step_size = j->step_size;
    const float inv_sqrt_bc2 = j->inv_sqrt_bc2, eps = j->eps;
    float *w = j->w, *g = j->g, *m = j->m, *v = j->v;
    for (long i = lo; i < hi; i++) {
        float gi = g[i];
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        /* decoupled decay: w <- w - lr*wd*w - lr * mhat / (sqrt(vhat) + eps) */
        w[i] = w[i] * decay - step_size * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
    }
}

void lr_adamw_step(lr_adamw *o, lr_tparam *p, int n, double lr)
{
    o->step++;
    /* bias corrections in double: at step 1 they are 0.1 and 0.001 */
    const double bc1 = 1.0 - pow(o->beta1, (double)o->step);
    const double bc2 = 1.0 - pow(o->beta2, (double)o->step);
    const float b1 = (float)o->beta1, b2 = (float)o->beta2;
    const float step_size = (float)(lr / bc1);
    const float inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
    const float eps = (float)o->eps;
    for (int i = 0; i < n; i++) {
        lr_tparam *q = &p[i];
        if (!q->m) q->m = lr_xcalloc((size_t)q->n, sizeof(float));
        if (!q->v) q->v = lr_xcalloc((size_t)q->n, sizeof(float));
        const float decay = q->decay ? (float)(1.0 - lr * o->weight_decay) : 1.0f;
        adamw_job j = {q->w, q->g, q->m, q->v, b1, b2, decay, step_size, inv_sqrt_bc2, eps};
        lr_par_range((long)q->n, (double)q->n, adamw_span, &j);
    }
}

void lr_grad_zero(lr_tparam *p, int n)
{
    for (int i = 0; i < n; i++) memset(p[i].g, 0, (size_t)p[i].n * sizeof(float));
}

static double sumsq_span(void *ctx, long lo, long hi)
{
    const float *g = ctx;
    double s = 0;
    for (long i = lo; i < hi; i++) s += (double)g[i] * g[i];
    return s;
}

double lr_grad_norm(const lr_tparam *p, int n)
{
    double total = 0;
    for (int i = 0; i < n; i++) total += lr_par_sum((long)p[i].n, (double)p[i].n, sumsq_span, p[i].g);
    return sqrt(total);
}

double lr_grad_clip(lr_tparam *p, int n, double max_norm)
{
    double norm = lr_grad_norm(p, n);
    if (max_norm > 0 && norm > max_norm && isfinite(norm)) {
        float s = (float)(max_norm / (norm + 1e-6));
        for (int i = 0; i < n; i++)
            for (int64_t j = 0; j < p[i].n; j++) p[i].g[j] *= s;
    }
    return norm;
}

static const char *const sched_names[] = {"constant", "linear", "cosine"};

int lr_schedule_parse(const char *s, lr_schedule *out)
{
    int i = lr_name_index(sched_names, LR_ARRAY_LEN(sched_names), s);
    if (i >= 0) *out = (lr_schedule)i;
    return i < 0 ? -1 : 0;
}

const char *lr_schedule_name(lr_schedule s)
{
    return lr_name_at(sched_names, LR_ARRAY_LEN(sched_names), (unsigned)s);
}

double lr_schedule_lr(lr_schedule s, double base, int64_t step, int64_t warmup, int64_t total)
{
    if (warmup > 0 && step < warmup) return base * (double)(step + 1) / (double)warmup;
    /* the decay runs over updates warmup .. total - 1 and reaches 0 at the
     * last one; a single update after the warm-up keeps the base rate */
    if (s == LR_SCHED_CONSTANT || total - warmup <= 1) return base;
    double t = (double)(step - warmup) / (double)(total - warmup - 1);
    if (t > 1) t = 1;
    if (t < 0) t = 0;
    if (s == LR_SCHED_LINEAR) return base * (1.0 - t);
    return base * 0.5 * (1.0 + cos(M_PI * t));
}
