/* pool.c - pooling of packed hidden states into one vector per sequence,
 * and its backward. */
#include "config.h"
#include "model/model-internal.h"

#include <math.h>

static const char *const pool_names[] = {"last", "mean"};   /* lr_pooling order */

const char *lr_pooling_name(lr_pooling p)
{
    return lr_name_at(pool_names, LR_ARRAY_LEN(pool_names), (unsigned)p);
}

int lr_pooling_parse(const char *s, lr_pooling *p)
{
    int i = lr_name_index(pool_names, LR_ARRAY_LEN(pool_names), s);
    if (i >= 0) *p = (lr_pooling)i;
    return i < 0 ? -1 : 0;
}

void lr_pool(const float *hidden, const int *lens, int n_seq, int dim, lr_pooling pooling,
             bool normalize, float *out)
{
    size_t off = 0;
    for (int s = 0; s < n_seq; s++) {
        float *o = out + (size_t)s * dim;
        const float *h = hidden + off * dim;
        int L = lens[s];
        if (pooling == LR_POOL_LAST || L <= 0) {
            if (L > 0) memcpy(o, h + (size_t)(L - 1) * dim, dim * sizeof(float));
            else memset(o, 0, dim * sizeof(float));
        } else {
            /* sum in double: long documents, float rounding adds up */
            for (int i = 0; i < dim; i++) {
                double a = 0;
                for (int t = 0; t < L; t++) a += h[(size_t)t * dim + i];
                o[i] = (float)(a / L);
            }
        }
        if (normalize) {
            double n2 = 0;
            for (int i = 0; i < dim; i++) n2 += (double)o[i] * o[i];
            /* torch.nn.functional.normalize: x / max(|x|, 1e-12) */
            double n = sqrt(n2);
            float inv = (float)(1.0 / (n > 1e-12 ? n : 1e-12));
            for (int i = 0; i < dim; i++) o[i] *= inv;
        }
        off += L > 0 ? L : 0;
    }
}

/* Pooling backward: dhidden [sum(lens) x dim] from the gradient dE
 * [n_seq x dim] of the (unnormalised) pooled vectors. */
void lr_pool_backward(float *dhidden, const float *dE, const int *lens, int n_seq, int dim,
                      lr_pooling pooling)
{
    size_t t0 = 0;
    for (int s = 0; s < n_seq; s++) {
        const float *d = dE + (size_t)s * dim;
        if (lens[s] <= 0) continue;   /* as lr_pool: an empty sequence has no rows */
        if (pooling == LR_POOL_MEAN) {
            for (int t = 0; t < lens[s]; t++)
                for (int i = 0; i < dim; i++) dhidden[(t0 + t) * dim + i] = d[i] / lens[s];
        } else {
            memset(dhidden + t0 * dim, 0, (size_t)(lens[s] - 1) * dim * sizeof(float));
            memcpy(dhidden + (t0 + lens[s] - 1) * dim, d, dim * sizeof(float));
        }
        t0 += lens[s];
    }
}
