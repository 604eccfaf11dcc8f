/* backward.c - the trainable model (lr_tmodel): float32 parameters and
 * their gradient buffers, and the training objectives (contrastive,
 * distillation, causal LM), each a forward with cache, a loss, and the
 * backward pass of forward.c from the pooled or per-token gradient. */
#include "config.h"
#include "model/tmodel.h"

#include <math.h>


/* ------------------------------------------------------------------ */
/* scratch */

static float *scratch(lr_tmodel *tm, size_t n)
{
    if (tm->buf_cap < n) {
        free(tm->buf);
        tm->buf = lr_xmalloc(n * sizeof(float));
        tm->buf_cap = n;
    }
    return tm->buf;
}

/* Backward of the whole model from dhidden (overwritten) into the
 * gradient buffers (forward.c). */
static void model_backward(lr_tmodel *tm, float *dhidden)
{
    float *work = scratch(tm, lr_model_backward_floats(tm->m, tm->cache->T));
    lr_model_backward(tm->m, tm->cache, tm->gw, tm->g_norm, tm->g_embed, tm->ad, dhidden, work);
}

/* ------------------------------------------------------------------ */
/* construction */

lr_tparam *lr_tmodel_add_param(lr_tmodel *tm, const char *name, float *w, int ndim, const int64_t *shape)
{
    tm->params = lr_grow(tm->params, &tm->cap_params, (size_t)tm->n_params + 1, sizeof *tm->params);
    lr_tparam *p = &tm->params[tm->n_params++];
    memset(p, 0, sizeof *p);
    p->name = lr_xstrdup(name);
    p->w = w;
    p->ndim = ndim;
    p->shape[0] = shape[0];
    p->shape[1] = ndim > 1 ? shape[1] : 0;
    p->n = ndim > 1 ? shape[0] * shape[1] : shape[0];
    p->g = lr_xcalloc((size_t)p->n, sizeof(float));
    p->decay = ndim > 1;
    return p;
}

/* gradient slot of the model weight pointer w, or NULL */
static float **grad_slot(lr_tmodel *tm, int layer, const float *w)
{
    lr_model *m = tm->m;
    if (layer < 0) {
        if (w == m->embed) return &tm->g_embed;
        if (w == m->final_norm) return &tm->g_norm;
        if (w == m->lm_head) return &tm->g_head;
        return NULL;
    }
    lr_layer_w *a = &m->layers[layer], *g = &tm->gw[layer];
    float *const *src[] = {&a->attn_norm, &a->wq, &a->wk, &a->wv, &a->bq, &a->bk, &a->bv,
                           &a->q_norm, &a->k_norm, &a->wo, &a->mlp_norm, &a->w_gate, &a->w_up,
                           &a->w_down};
    float **dst[] = {&g->attn_norm, &g->wq, &g->wk, &g->wv, &g->bq, &g->bk, &g->bv,
                     &g->q_norm, &g->k_norm, &g->wo, &g->mlp_norm, &g->w_gate, &g->w_up,
                     &g->w_down};
    for (size_t i = 0; i < LR_ARRAY_LEN(src); i++)
        if (*src[i] == w) return dst[i];
    return NULL;
}

lr_tmodel *lr_tmodel_new(const lr_checkpoint *ck, bool train_head, lr_error *err)
{
    lr_model *m = lr_model_new_trainable(ck, err);
    if (!m) return NULL;
    lr_tmodel *tm = lr_xcalloc(1, sizeof *tm);
    tm->m = m;
    tm->cache = lr_fwd_cache_new();
    tm->gw = lr_xcalloc(m->n_layers, sizeof *tm->gw);
    tm->chunk = 4096;
    lr_model_param *mp;
    int n = lr_model_params(m, &mp);
    for (int i = 0; i < n; i++) {
        if (!train_head && mp[i].data == m->lm_head && m->lm_head != m->embed) continue;
        float **slot = grad_slot(tm, mp[i].layer, mp[i].data);
        if (!slot) {
            lr_errorf(err, "internal: parameter %s has no gradient slot", mp[i].name);
            lr_tmodel_free(tm);
            return NULL;
        }
        lr_tparam *p = lr_tmodel_add_param(tm, mp[i].name, mp[i].data, mp[i].ndim, mp[i].shape);
        *slot = p->g;
    }
    return tm;
}

void lr_tmodel_free(lr_tmodel *tm)
{
    if (!tm) return;
    for (int i = 0; i < tm->n_params; i++) {
        free(tm->params[i].name);
        free(tm->params[i].g);
        free(tm->params[i].m);
        free(tm->params[i].v);
        if (tm->n_lora) free(tm->params[i].w);   /* adapters own their weights */
    }
    free(tm->params);
    for (int i = 0; i < tm->n_lora; i++) free(tm->lo[i].w0);
    free(tm->lo);
    free(tm->ad);
    free(tm->gw);
    free(tm->buf);
    free(tm->hidden);
    lr_fwd_cache_free(tm->cache);
    lr_model_free(tm->m);
    free(tm);
}

const lr_config *lr_tmodel_config(const lr_tmodel *tm)
{
    return lr_model_config(tm->m);
}

lr_tparam *lr_tmodel_params(lr_tmodel *tm, int *n)
{
    *n = tm->n_params;
    return tm->params;
}

void lr_tmodel_set_chunk(lr_tmodel *tm, int max_tokens)
{
    tm->chunk = max_tokens > 0 ? max_tokens : 4096;
}

int lr_tmodel_set_precision(lr_tmodel *tm, lr_precision p, lr_error *err)
{
    return lr_model_set_precision(tm->m, p, err);
}

lr_precision lr_tmodel_precision(const lr_tmodel *tm)
{
    return lr_model_precision(tm->m);
}

/* Write the weights (LoRA merged) into ck. */
int lr_tmodel_store(lr_tmodel *tm, lr_checkpoint *ck, lr_error *err)
{
    if (tm->n_lora) lr_lora_merge(tm);
    return lr_model_store(tm->m, ck, err);
}

void lr_tmodel_release(lr_tmodel *tm, lr_checkpoint *ck)
{
    lr_model_release(tm->m, ck);
}

/* ------------------------------------------------------------------ */
/* objectives */

/* Pooled embeddings on the weights as they are (adapters already merged). */
static int embed_merged(lr_tmodel *tm, const int32_t *ids, const int *lens, int n_seq,
                        lr_pooling pooling, float *out, lr_error *err)
{
    const int H = tm->m->H;
    /* in chunks of whole sequences, to bound the workspace */
    int s0 = 0;
    size_t t0 = 0;
    while (s0 < n_seq) {
        size_t T;
        const int s1 = lr_batch_span(lens, n_seq, s0, (size_t)tm->chunk, &T);
        if (tm->hidden_cap < T * H) {
            free(tm->hidden);
            tm->hidden = lr_xmalloc(T * H * sizeof(float));
            tm->hidden_cap = T * H;
        }
        if (lr_model_forward(tm->m, ids + t0, lens + s0, s1 - s0, tm->hidden, NULL, err)) return -1;
        lr_pool(tm->hidden, lens + s0, s1 - s0, H, pooling, false, out + (size_t)s0 * H);
        t0 += T;
        s0 = s1;
    }
    return 0;
}

int lr_tmodel_embed(lr_tmodel *tm, const int32_t *ids, const int *lens, int n_seq,
                    lr_pooling pooling, float *out, lr_error *err)
{
    if (tm->n_lora) lr_lora_merge(tm);
    return embed_merged(tm, ids, lens, n_seq, pooling, out, err);
}

/* Forward with cache over sequences [s0, s1) of ids/lens, then backward
 * from the pooled gradient dE [(s1-s0) x H]. */
static int chunk_backward(lr_tmodel *tm, const int32_t *ids, const int *lens, int n, const float *dE,
                          lr_pooling pooling, lr_error *err)
{
    if (lr_model_forward_cached(tm->m, ids, lens, n, tm->cache, NULL, err)) return -1;
    const int H = tm->m->H;
    float *dh = lr_xmalloc((size_t)tm->cache->T * H * sizeof(float));
    lr_pool_backward(dh, dE, lens, n, H, pooling);
    model_backward(tm, dh);
    free(dh);
    return 0;
}

/* Under data parallelism (lib/dist/dist.c) each rank embeds and backpropagates
 * its share of the batch's queries and of its passages; the embeddings
 * are gathered so that every rank computes the loss over the whole batch
 * (every passage a negative for every other query) and the same
 * embedding gradients, of which it backpropagates its own rows.  The
 * caller sums the weight gradients over the ranks.  With one rank the
 * share is the whole batch. */
double lr_tmodel_contrastive(lr_tmodel *tm, const lr_contrastive_batch *b, double tau,
                             double tau_teacher, lr_pooling pooling, bool normalize, double scale,
                             float *scores, lr_error *err)
{
    lr_model *m = tm->m;
    const int H = m->H;
    if (b->nq < 1 || b->np < 1) return lr_errorf(err, "contrastive batch without queries or passages"), NAN;
    for (int i = 0; i < b->nq; i++)
        if (b->pos[i] < 0 || b->pos[i] >= b->np)
            return lr_errorf(err, "query %d: positive %d outside the batch", i, b->pos[i]), NAN;
    if (tm->n_lora) lr_lora_merge(tm);
    /* this rank's queries [qa, qb) then passages [pa, pb), packed */
    int64_t qa, qb, pa, pb;
    lr_dist_share(b->nq, &qa, &qb);
    lr_dist_share(b->np, &pa, &pb);
    const int nq = (int)(qb - qa), n = nq + (int)(pb - pa);
    size_t q0 = 0, tq = 0, p0 = 0, tp = 0;
    for (int i = 0; i < qb; i++) {
        if (i < qa) q0 += b->q_lens[i];
        else tq += b->q_lens[i];
    }
    for (int i = 0; i < pb; i++) {
        if (i < pa) p0 += b->p_lens[i];
        else tp += b->p_lens[i];
    }
    int32_t *ids = lr_xmalloc((tq + tp + 1) * sizeof(int32_t));
    int *lens = lr_xmalloc((n + 1) * sizeof(int));
    memcpy(ids, b->q_ids + q0, tq * sizeof(int32_t));
    memcpy(ids + tq, b->p_ids + p0, tp * sizeof(int32_t));
    memcpy(lens, b->q_lens + qa, nq * sizeof(int));
    memcpy(lens + nq, b->p_lens + pa, (n - nq) * sizeof(int));
    float *E = lr_xmalloc(((size_t)n + 1) * H * sizeof(float));
    float *dE = lr_xcalloc(((size_t)n + 1) * H, sizeof(float));
    const size_t nall = (size_t)b->nq + b->np;
    float *Eall = lr_xmalloc(nall * H * sizeof(float));
    float *dEall = lr_xcalloc(nall * H, sizeof(float));
    double loss = NAN;
    bool one = tq + tp <= (size_t)tm->chunk;
    int rc = 0;
    if (n > 0 && one) {
        /* the whole share fits: one forward with cache */
        rc = lr_model_forward_cached(m, ids, lens, n, tm->cache, NULL, err);
        if (rc == 0) lr_pool(tm->cache->hidden, lens, n, H, pooling, false, E);
    } else if (n > 0) {
        rc = embed_merged(tm, ids, lens, n, pooling, E, err);   /* merged above */
    }
    if (lr_dist_check(rc, err)) goto done;
    lr_dist_gather_rows(E, Eall, b->nq, H);
    lr_dist_gather_rows(E + (size_t)nq * H, Eall + (size_t)b->nq * H, b->np, H);
    const float *Eq = Eall, *Ep = Eall + (size_t)b->nq * H;
    float *dq = dEall, *dp = dEall + (size_t)b->nq * H;
    if (b->teacher)
        loss = lr_distill_kl(Eq, b->nq, Ep, b->np, H, b->teacher, tau, tau_teacher, normalize, scale,
                             dq, dp);
    else
        loss = lr_infonce(Eq, b->nq, Ep, b->np, H, b->pos, tau, normalize, scale, dq, dp, scores);
    if (!isfinite(loss)) goto done;   /* the caller stops; no gradient */
    memcpy(dE, dq + (size_t)qa * H, (size_t)nq * H * sizeof(float));
    memcpy(dE + (size_t)nq * H, dp + (size_t)pa * H, (size_t)(n - nq) * H * sizeof(float));
    if (n > 0 && one) {
        float *dh = lr_xmalloc((size_t)tm->cache->T * H * sizeof(float));
        lr_pool_backward(dh, dE, lens, n, H, pooling);
        model_backward(tm, dh);
        free(dh);
    } else if (n > 0) {
        /* gradient caching: recompute each chunk with its graph */
        int s0 = 0;
        size_t t0 = 0;
        while (s0 < n) {
            size_t T;
            const int s1 = lr_batch_span(lens, n, s0, (size_t)tm->chunk, &T);
            if (chunk_backward(tm, ids + t0, lens + s0, s1 - s0, dE + (size_t)s0 * H, pooling, err)) {
                loss = NAN;
                goto done;
            }
            t0 += T;
            s0 = s1;
        }
    }
done:
    free(ids);
    free(lens);
    free(E);
    free(dE);
    free(Eall);
    free(dEall);
    return loss;
}

double lr_tmodel_lm(lr_tmodel *tm, const int32_t *ids, const int *lens, int n_seq, double scale,
                    int64_t *n_predicted, lr_error *err)
{
    lr_model *m = tm->m;
    const int H = m->H, V = m->vocab;
    if (!m->lm_head) return lr_errorf(err, "lm objective: the model has no lm_head"), NAN;
    int64_t N = 0;
    for (int s = 0; s < n_seq; s++) N += lens[s] > 1 ? lens[s] - 1 : 0;
    if (n_predicted) *n_predicted = N;
    if (N == 0) return lr_errorf(err, "lm objective: no sequence of two tokens or more"), NAN;
    if (tm->n_lora) lr_lora_merge(tm);
    double total = 0;
    const double gscale = scale / (double)N;
    int s0 = 0;
    size_t t0 = 0;
    while (s0 < n_seq) {
        size_t T;
        const int s1 = lr_batch_span(lens, n_seq, s0, (size_t)tm->chunk, &T);
        if (lr_model_forward_cached(m, ids + t0, lens + s0, s1 - s0, tm->cache, NULL, err))
            return NAN;
        const float *hid = tm->cache->hidden;
        float *dh = lr_xcalloc(T * H, sizeof(float));
        /* rows that predict a next token, in blocks that bound the logits */
        int *rows = lr_xmalloc(T * sizeof(int));
        int32_t *tgt = lr_xmalloc(T * sizeof(int32_t));
        int nr = 0;
        size_t t = 0;
        for (int s = s0; s < s1; s++) {
            for (int i = 0; i + 1 < lens[s]; i++) {
                rows[nr] = (int)(t + i);
                tgt[nr++] = ids[t0 + t + i + 1];
            }
            t += lens[s];
        }
        int blk = (int)LR_MAX(1, LR_MIN(nr, (8 << 20) / V));
        float *hb = lr_xmalloc((size_t)blk * H * sizeof(float));
        float *dhb = lr_xmalloc((size_t)blk * H * sizeof(float));
        float *logits = lr_xmalloc((size_t)blk * V * sizeof(float));
        float *ghead = tm->g_head ? tm->g_head : (m->lm_head == m->embed ? tm->g_embed : NULL);
        for (int r0 = 0; r0 < nr; r0 += blk) {
            int nb = LR_MIN(blk, nr - r0);
            for (int r = 0; r < nb; r++)
                memcpy(hb + (size_t)r * H, hid + (size_t)rows[r0 + r] * H, H * sizeof(float));
            lr_sgemm(false, true, nb, V, H, 1.0f, hb, H, m->lm_head, H, 0.0f, logits, V);
            total += lr_xent(logits, nb, V, tgt + r0, gscale, logits);
            lr_sgemm(false, false, nb, H, V, 1.0f, logits, V, m->lm_head, H, 0.0f, dhb, H);
            if (ghead) lr_sgemm(true, false, V, H, nb, 1.0f, logits, V, hb, H, 1.0f, ghead, H);
            for (int r = 0; r < nb; r++) lr_axpyf(dh + (size_t)rows[r0 + r] * H, 1.0f, dhb + (size_t)r * H, H);
        }
        free(hb);
        free(dhb);
        free(logits);
        free(rows);
        free(tgt);
        if (isfinite(total)) model_backward(tm, dh);
        free(dh);
        t0 += T;
        s0 = s1;
    }
    return total / (double)N;
}

double lr_tmodel_flops(const lr_tmodel *tm, const int *lens, int n_seq, bool lm)
{
    double tokens = 0;
    for (int s = 0; s < n_seq; s++) tokens += lens[s];
    /* backward costs about twice the forward (input and weight gradients);
     * with adapters, the input gradients and the adapters' thin products */
    double f = (tm->n_lora ? 2.0 : 3.0) * lr_model_flops(tm->m, lens, n_seq);
    for (int i = 0; i < tm->n_lora; i++)
        f += 4.0 * tokens * tm->rank * (tm->lo[i].in + tm->lo[i].out);
    if (lm) f += 6.0 * tokens * tm->m->H * tm->m->vocab;
    return f;
}
