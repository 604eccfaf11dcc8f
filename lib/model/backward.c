/* backward.c - the trainable model: gradients of every forward operation
 * (embedding gather, RMSNorm, q/k/v/o projections with Qwen2 biases,
 * Qwen3 q/k norms, RoPE, causal GQA attention over packed sequences,
 * SwiGLU MLP, residuals, final norm, pooling, LM head), computed from the
 * forward cache of model-internal.h, float32 on BLIS GEMMs.  LoRA adapters
 * are trained through merged weights: W = W0 + s B A is rebuilt before
 * each forward, the dense gradient of W is computed as for full
 * fine-tuning and projected onto A and B. */
#include "config.h"
#include "model/model-internal.h"

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif


/* One LoRA adapter on a projection weight W [out x in]. */
typedef struct lora {
    float *w;          /* the model's (merged) weight */
    float *w0;         /* frozen base weight */
    float *gw;         /* dense gradient of W */
    lr_tparam *a, *b;  /* A [r x in], B [out x r] */
    int out, in;
} lora;

struct lr_tmodel {
    lr_model *m;
    lr_fwd_cache *cache;
    lr_tparam *params;   /* trainable parameters */
    int n_params, cap_params;
    lr_layer_w *gw;      /* per layer: gradient buffers (NULL = frozen/absent) */
    float *g_embed, *g_norm, *g_head;
    int chunk;
    /* LoRA */
    lora *lo;
    int n_lora, rank;
    float lscale;
    float **dense;       /* dense gradient buffers owned for LoRA */
    int n_dense;
    /* scratch */
    float *buf;
    size_t buf_cap;
    float *hidden;       /* pooled embeddings / no-cache hidden states */
    size_t hidden_cap;
};

/* ------------------------------------------------------------------ */
/* kernels */

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

/* RMSNorm backward over rows; per-thread partial weight gradients. */
static void rms_bwd(float *dx, bool acc, const float *dy, const float *x, const float *rstd,
                    const float *w, float *gw, int rows, int n)
{
    int nt = 1;
#ifdef _OPENMP
    nt = omp_get_max_threads();
#endif
    float *part = gw ? lr_xcalloc((size_t)nt * n, sizeof(float)) : NULL;
#pragma omp parallel
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        float *pg = part ? part + (size_t)tid * n : NULL;
#pragma omp for schedule(static)
        for (int t = 0; t < rows; t++)
            rms_bwd_row(dx + (size_t)t * n, acc, dy + (size_t)t * n, x + (size_t)t * n, rstd[t], w,
                        pg, n);
    }
    if (gw) {
        for (int k = 0; k < nt; k++)
            for (int i = 0; i < n; i++) gw[i] += part[(size_t)k * n + i];
        free(part);
    }
}

/* Sum of rows into g (bias gradient). */
static void bias_bwd(float *g, const float *dy, int rows, int n)
{
    if (!g) return;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        float s = 0;
        for (int t = 0; t < rows; t++) s += dy[(size_t)t * n + i];
        g[i] += s;
    }
}

/* Linear y = x W^T backward: gw += dy^T x; dx (= or +=) dy W. */
static void linear_bwd(float *dx, float beta, const float *dy, const float *x, const float *w,
                       float *gw, int T, int in, int out)
{
    if (gw) lr_sgemm(true, false, out, in, T, 1.0f, dy, out, x, in, 1.0f, gw, in);
    if (dx) lr_sgemm(false, false, T, in, out, 1.0f, dy, out, w, in, beta, dx, in);
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

/* ------------------------------------------------------------------ */
/* attention backward: one task per (sequence, key-value head), so that
 * dK and dV rows have a single writer */
static void attention_bwd(const lr_model *m, const lr_fwd_cache *c, const lr_layer_cache *lc,
                          const float *datt, float *dq, float *dk, float *dv)
{
    const int nh = m->nh, nkv = m->nkv, hd = m->hd, qdim = m->qdim, kvdim = m->kvdim;
    const int rep = nh / nkv, n_seq = c->n_seq;
    const float scale = m->scale;
    int maxlen = 0;
    for (int s = 0; s < n_seq; s++) maxlen = LR_MAX(maxlen, c->lens[s]);
    memset(dk, 0, (size_t)c->T * kvdim * sizeof(float));
    memset(dv, 0, (size_t)c->T * kvdim * sizeof(float));
#pragma omp parallel
    {
        float *p = lr_xmalloc((size_t)maxlen * sizeof(float));
        float *dp = lr_xmalloc((size_t)maxlen * sizeof(float));
#pragma omp for schedule(dynamic, 1) collapse(2)
        for (int s = 0; s < n_seq; s++)
            for (int g = 0; g < nkv; g++) {
                const int s0 = c->seq_start[s], L = c->lens[s];
                for (int h = g * rep; h < (g + 1) * rep; h++)
                    for (int i = 0; i < L; i++) {
                        const int lo = m->window && i - m->window + 1 > 0 ? i - m->window + 1 : 0;
                        const int n = i - lo + 1;
                        const float *q = lc->qr + (size_t)(s0 + i) * qdim + h * hd;
                        const float *dO = datt + (size_t)(s0 + i) * qdim + h * hd;
                        const float lse = lc->lse[(size_t)(s0 + i) * nh + h];
                        float D = 0;
                        for (int j = 0; j < n; j++) {
                            const size_t kr = (size_t)(s0 + lo + j) * kvdim + g * hd;
                            p[j] = lr_expf(scale * lr_dotf(q, lc->kr + kr, hd) - lse);
                            dp[j] = lr_dotf(dO, lc->v + kr, hd);
                            D += p[j] * dp[j];
                        }
                        float *dqi = dq + (size_t)(s0 + i) * qdim + h * hd;
                        memset(dqi, 0, hd * sizeof(float));
                        for (int j = 0; j < n; j++) {
                            const size_t kr = (size_t)(s0 + lo + j) * kvdim + g * hd;
                            float ds = p[j] * (dp[j] - D) * scale;
                            lr_axpyf(dqi, ds, lc->kr + kr, hd);
                            lr_axpyf(dk + kr, ds, q, hd);
                            lr_axpyf(dv + kr, p[j], dO, hd);
                        }
                    }
            }
        free(p);
        free(dp);
    }
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

static int max_width(const lr_model *m)
{
    int I = 0;
    for (int l = 0; l < m->n_layers; l++) I = LR_MAX(I, m->layers[l].mlp);
    return I;
}

/* Backward of the whole model from dhidden [T x H] (gradient w.r.t. the
 * cache's hidden states; overwritten).  Adds into the gradient buffers. */
static void model_backward(lr_tmodel *tm, float *dhidden)
{
    lr_model *m = tm->m;
    const lr_fwd_cache *c = tm->cache;
    const int T = c->T, H = m->H, I = max_width(m), qdim = m->qdim, kvdim = m->kvdim;
    if (T == 0) return;
    size_t need = (size_t)T * (2 * H + 2 * qdim + 2 * kvdim + 3 * (size_t)I);
    float *p = scratch(tm, need);
    float *dx = lr_carve(&p, (size_t)T * H), *dxn = lr_carve(&p, (size_t)T * H);
    float *dq = lr_carve(&p, (size_t)T * qdim), *datt = lr_carve(&p, (size_t)T * qdim);
    float *dk = lr_carve(&p, (size_t)T * kvdim), *dv = lr_carve(&p, (size_t)T * kvdim);
    float *dact = lr_carve(&p, (size_t)T * I), *dg = lr_carve(&p, (size_t)T * I);
    float *du = lr_carve(&p, (size_t)T * I);

    rms_bwd(dx, false, dhidden, c->x_out, c->rstd_out, m->final_norm, tm->g_norm, T, H);
    for (int l = m->n_layers - 1; l >= 0; l--) {
        const lr_layer_w *w = &m->layers[l];
        const lr_layer_w *g = &tm->gw[l];
        const lr_layer_cache *lc = &c->layers[l];
        if (w->mlp) {
            const int W = w->mlp;
            linear_bwd(dact, 0.0f, dx, lc->act, w->w_down, g->w_down, T, W, H);
#pragma omp parallel for schedule(static)
            for (int t = 0; t < T; t++) {
                size_t o = (size_t)t * W;
                swiglu_bwd_row(dg + o, du + o, dact + o, lc->gate + o, lc->up + o, W);
            }
            linear_bwd(dxn, 0.0f, dg, lc->xn2, w->w_gate, g->w_gate, T, H, W);
            linear_bwd(dxn, 1.0f, du, lc->xn2, w->w_up, g->w_up, T, H, W);
            rms_bwd(dx, true, dxn, lc->x_mid, lc->rstd2, w->mlp_norm, g->mlp_norm, T, H);
        }
        if (w->attn) {
            linear_bwd(datt, 0.0f, dx, lc->att, w->wo, g->wo, T, qdim, H);
            attention_bwd(m, c, lc, datt, dq, dk, dv);
            lr_rope(m, dq, T, m->nh, c->pos, true);
            lr_rope(m, dk, T, m->nkv, c->pos, true);
            if (w->q_norm) headnorm_bwd(dq, lc->q, lc->q_rstd, w->q_norm, g->q_norm, T, m->nh, m->hd);
            if (w->k_norm) headnorm_bwd(dk, lc->k, lc->k_rstd, w->k_norm, g->k_norm, T, m->nkv, m->hd);
            bias_bwd(g->bq, dq, T, qdim);
            bias_bwd(g->bk, dk, T, kvdim);
            bias_bwd(g->bv, dv, T, kvdim);
            linear_bwd(dxn, 0.0f, dq, lc->xn1, w->wq, g->wq, T, H, qdim);
            linear_bwd(dxn, 1.0f, dk, lc->xn1, w->wk, g->wk, T, H, kvdim);
            linear_bwd(dxn, 1.0f, dv, lc->xn1, w->wv, g->wv, T, H, kvdim);
            rms_bwd(dx, true, dxn, lc->x, lc->rstd1, w->attn_norm, g->attn_norm, T, H);
        }
    }
    if (tm->g_embed) {
        /* rows of the same id add up: split the hidden dimension instead */
#pragma omp parallel
        {
            int nt = 1, tid = 0;
#ifdef _OPENMP
            nt = omp_get_num_threads();
            tid = omp_get_thread_num();
#endif
            int c0 = H * tid / nt, c1 = H * (tid + 1) / nt;
            for (int t = 0; t < T; t++) {
                float *ge = tm->g_embed + (size_t)c->ids[t] * H;
                const float *d = dx + (size_t)t * H;
                for (int i = c0; i < c1; i++) ge[i] += d[i];
            }
        }
    }
}

/* ------------------------------------------------------------------ */
/* construction */

static lr_tparam *add_tparam(lr_tmodel *tm, const char *name, float *w, int ndim, const int64_t *shape)
{
    if (tm->n_params == tm->cap_params) {
        tm->cap_params = tm->cap_params ? 2 * tm->cap_params : 64;
        tm->params = lr_xrealloc(tm->params, tm->cap_params * sizeof *tm->params);
    }
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
        lr_tparam *p = add_tparam(tm, mp[i].name, mp[i].data, mp[i].ndim, mp[i].shape);
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
    for (int i = 0; i < tm->n_dense; i++) free(tm->dense[i]);
    free(tm->dense);
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

/* ------------------------------------------------------------------ */
/* LoRA */

_Static_assert(LR_NW == 7, "lr_lora_targets_parse fills seven projections");

int lr_lora_targets_parse(const char *targets, bool use[7], lr_error *err)
{
    for (int i = 0; i < LR_NW; i++) use[i] = false;
    char *list = lr_xstrdup(targets && *targets ? targets : "all");
    int rc = 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t && rc == 0;
         t = strtok_r(NULL, ",", &save)) {
        bool ok = false;
        if (strcmp(t, "all") == 0) {
            for (int i = 0; i < LR_NW; i++) use[i] = true;
            ok = true;
        }
        for (int i = 0; i < LR_NW; i++) {
            const char *name = lr_proj_spec(i)->short_name;
            size_t n = strlen(name);
            /* "q", "q_proj" */
            if (strncmp(t, name, n) == 0 && (!t[n] || strcmp(t + n, "_proj") == 0))
                use[i] = ok = true;
        }
        if (!ok) rc = lr_errorf(err, "LoRA target \"%s\": expected q, k, v, o, gate, up, down or all", t);
    }
    free(list);
    return rc;
}

int lr_tmodel_lora(lr_tmodel *tm, int rank, double alpha, const char *targets, uint64_t seed,
                   lr_error *err)
{
    lr_model *m = tm->m;
    if (rank < 1) return lr_errorf(err, "LoRA rank %d: must be at least 1", rank);
    if (tm->n_lora) return lr_errorf(err, "LoRA already set up");
    bool use[LR_NW] = {false};
    if (lr_lora_targets_parse(targets, use, err) < 0) return -1;
    /* drop the full parameters: only adapters train */
    for (int i = 0; i < tm->n_params; i++) {
        free(tm->params[i].name);
        free(tm->params[i].g);
        free(tm->params[i].m);
        free(tm->params[i].v);
    }
    free(tm->params);
    tm->params = NULL;
    tm->n_params = tm->cap_params = 0;
    memset(tm->gw, 0, m->n_layers * sizeof *tm->gw);
    tm->g_embed = tm->g_norm = tm->g_head = NULL;
    tm->rank = rank;
    tm->lscale = (float)(alpha / rank);
    lr_rng rng;
    lr_rng_seed(&rng, seed ^ 0x6c6f7261ULL);
    /* count, then create, so that params does not move under lora.a/b */
    int count = 0;
    for (int l = 0; l < m->n_layers; l++) {
        lr_layer_w *w = &m->layers[l];
        float *mats[LR_NW] = {w->wq, w->wk, w->wv, w->wo, w->w_gate, w->w_up, w->w_down};
        for (int i = 0; i < LR_NW; i++) count += use[i] && mats[i];
    }
    if (!count) return lr_errorf(err, "LoRA: no target projection in the model");
    tm->lo = lr_xcalloc(count, sizeof *tm->lo);
    tm->params = lr_xcalloc(2 * (size_t)count, sizeof *tm->params);
    tm->cap_params = 2 * count;
    tm->dense = lr_xcalloc(count, sizeof *tm->dense);
    for (int l = 0; l < m->n_layers; l++) {
        lr_layer_w *w = &m->layers[l];
        lr_layer_w *g = &tm->gw[l];
        float *mats[LR_NW] = {w->wq, w->wk, w->wv, w->wo, w->w_gate, w->w_up, w->w_down};
        float **gslot[LR_NW] = {&g->wq, &g->wk, &g->wv, &g->wo, &g->w_gate, &g->w_up, &g->w_down};
        for (int i = 0; i < LR_NW; i++) {
            if (!use[i] || !mats[i]) continue;
            const lr_tensor_spec *sp = lr_proj_spec(i);
            lora *a = &tm->lo[tm->n_lora++];
            a->w = mats[i];
            a->out = (int)lr_spec_dim(sp->rows, &m->cfg, w->mlp);
            a->in = (int)lr_spec_dim(sp->cols, &m->cfg, w->mlp);
            /* "model.layers.<l>.self_attn.q_proj" + ".lora_A" */
            int base = (int)(strlen(sp->name) - strlen(".weight"));
            size_t n = (size_t)a->out * a->in;
            a->w0 = lr_xmalloc(n * sizeof(float));
            memcpy(a->w0, a->w, n * sizeof(float));
            a->gw = tm->dense[tm->n_dense++] = lr_xcalloc(n, sizeof(float));
            *gslot[i] = a->gw;
            char name[200];
            snprintf(name, sizeof name, "model.layers.%d.%.*s.lora_A", l, base, sp->name);
            int64_t sa[2] = {rank, a->in}, sb[2] = {a->out, rank};
            a->a = add_tparam(tm, name, lr_xmalloc((size_t)rank * a->in * sizeof(float)), 2, sa);
            snprintf(name, sizeof name, "model.layers.%d.%.*s.lora_B", l, base, sp->name);
            a->b = add_tparam(tm, name, lr_xcalloc((size_t)a->out * rank, sizeof(float)), 2, sb);
            a->a->decay = a->b->decay = false;
            /* Kaiming-uniform with a = sqrt(5), as PEFT: bound 1/sqrt(in) */
            double bound = 1.0 / sqrt((double)a->in);
            for (int64_t k = 0; k < a->a->n; k++)
                a->a->w[k] = (float)((2 * lr_rng_uniform(&rng) - 1) * bound);
        }
    }
    return 0;
}

/* W = W0 + s B A for every adapter */
static void lora_merge(lr_tmodel *tm)
{
    for (int i = 0; i < tm->n_lora; i++) {
        lora *a = &tm->lo[i];
        memcpy(a->w, a->w0, (size_t)a->out * a->in * sizeof(float));
        lr_sgemm(false, false, a->out, a->in, tm->rank, tm->lscale, a->b->w, tm->rank, a->a->w,
                 a->in, 1.0f, a->w, a->in);
    }
}

/* dA += s B^T dW, dB += s dW A^T; dW cleared */
static void lora_project(lr_tmodel *tm)
{
    for (int i = 0; i < tm->n_lora; i++) {
        lora *a = &tm->lo[i];
        lr_sgemm(true, false, tm->rank, a->in, a->out, tm->lscale, a->b->w, tm->rank, a->gw, a->in,
                 1.0f, a->a->g, a->in);
        lr_sgemm(false, true, a->out, tm->rank, a->in, tm->lscale, a->gw, a->in, a->a->w, a->in,
                 1.0f, a->b->g, tm->rank);
        memset(a->gw, 0, (size_t)a->out * a->in * sizeof(float));
    }
}

int lr_tmodel_store(lr_tmodel *tm, lr_checkpoint *ck, lr_error *err)
{
    if (tm->n_lora) lora_merge(tm);
    return lr_model_store(tm->m, ck, err);
}

/* ------------------------------------------------------------------ */
/* objectives */

static void pool_rows(const float *hidden, const int *lens, int n_seq, int H, lr_pooling pooling,
                      float *out)
{
    size_t t0 = 0;
    for (int s = 0; s < n_seq; s++) {
        float *o = out + (size_t)s * H;
        if (pooling == LR_POOL_MEAN) {
            memset(o, 0, H * sizeof(float));
            for (int t = 0; t < lens[s]; t++) lr_axpyf(o, 1.0f, hidden + (t0 + t) * H, H);
            for (int i = 0; i < H; i++) o[i] /= lens[s];
        } else {
            memcpy(o, hidden + (t0 + lens[s] - 1) * H, H * sizeof(float));
        }
        t0 += lens[s];
    }
}

static void pool_bwd(float *dhidden, const float *dE, const int *lens, int n_seq, int H,
                     lr_pooling pooling)
{
    size_t t0 = 0;
    for (int s = 0; s < n_seq; s++) {
        const float *d = dE + (size_t)s * H;
        if (pooling == LR_POOL_MEAN) {
            for (int t = 0; t < lens[s]; t++)
                for (int i = 0; i < H; i++) dhidden[(t0 + t) * H + i] = d[i] / lens[s];
        } else {
            memset(dhidden + t0 * H, 0, (size_t)(lens[s] - 1) * H * sizeof(float));
            memcpy(dhidden + (t0 + lens[s] - 1) * H, d, H * sizeof(float));
        }
        t0 += lens[s];
    }
}

int lr_tmodel_embed(lr_tmodel *tm, const int32_t *ids, const int *lens, int n_seq,
                    lr_pooling pooling, float *out, lr_error *err)
{
    if (tm->n_lora) lora_merge(tm);
    const int H = tm->m->H;
    /* in chunks of whole sequences, to bound the workspace */
    int s0 = 0;
    size_t t0 = 0;
    while (s0 < n_seq) {
        int s1 = s0;
        size_t T = 0;
        while (s1 < n_seq && (s1 == s0 || T + lens[s1] <= (size_t)tm->chunk)) T += lens[s1++];
        if (tm->hidden_cap < T * H) {
            free(tm->hidden);
            tm->hidden = lr_xmalloc(T * H * sizeof(float));
            tm->hidden_cap = T * H;
        }
        if (lr_model_forward(tm->m, ids + t0, lens + s0, s1 - s0, tm->hidden, NULL, err)) return -1;
        pool_rows(tm->hidden, lens + s0, s1 - s0, H, pooling, out + (size_t)s0 * H);
        t0 += T;
        s0 = s1;
    }
    return 0;
}

/* Forward with cache over sequences [s0, s1) of ids/lens, then backward
 * from the pooled gradient dE [(s1-s0) x H]. */
static int chunk_backward(lr_tmodel *tm, const int32_t *ids, const int *lens, int n, const float *dE,
                          lr_pooling pooling, lr_error *err)
{
    if (lr_model_forward_cached(tm->m, ids, lens, n, tm->cache, NULL, err)) return -1;
    const int H = tm->m->H;
    float *dh = lr_xmalloc((size_t)tm->cache->T * H * sizeof(float));
    pool_bwd(dh, dE, lens, n, H, pooling);
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
    if (tm->n_lora) lora_merge(tm);
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
        if (rc == 0) pool_rows(tm->cache->hidden, lens, n, H, pooling, E);
    } else if (n > 0) {
        rc = lr_tmodel_embed(tm, ids, lens, n, pooling, E, err);
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
        pool_bwd(dh, dE, lens, n, H, pooling);
        model_backward(tm, dh);
        free(dh);
    } else if (n > 0) {
        /* gradient caching: recompute each chunk with its graph */
        int s0 = 0;
        size_t t0 = 0;
        while (s0 < n) {
            int s1 = s0;
            size_t T = 0;
            while (s1 < n && (s1 == s0 || T + lens[s1] <= (size_t)tm->chunk)) T += lens[s1++];
            if (chunk_backward(tm, ids + t0, lens + s0, s1 - s0, dE + (size_t)s0 * H, pooling, err)) {
                loss = NAN;
                goto done;
            }
            t0 += T;
            s0 = s1;
        }
    }
    if (tm->n_lora) lora_project(tm);
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
    if (tm->n_lora) lora_merge(tm);
    double total = 0;
    const double gscale = scale / (double)N;
    int s0 = 0;
    size_t t0 = 0;
    while (s0 < n_seq) {
        int s1 = s0;
        size_t T = 0;
        while (s1 < n_seq && (s1 == s0 || T + lens[s1] <= (size_t)tm->chunk)) T += lens[s1++];
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
    if (tm->n_lora) lora_project(tm);
    return total / (double)N;
}

double lr_tmodel_flops(const lr_tmodel *tm, const int *lens, int n_seq, bool lm)
{
    /* backward costs about twice the forward (input and weight gradients) */
    double f = 3.0 * lr_model_flops(tm->m, lens, n_seq);
    if (lm) {
        double tokens = 0;
        for (int s = 0; s < n_seq; s++) tokens += lens[s];
        f += 6.0 * tokens * tm->m->H * tm->m->vocab;
    }
    return f;
}
