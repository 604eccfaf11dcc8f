/* model.c - the decoder's weights view: layout, dtype conversion, RoPE
 * tables, trainable copies. */
#include "config.h"
#include "model/model-internal.h"

#include <math.h>

static void *own(lr_model *m, size_t bytes)
{
    m->owned = lr_grow(m->owned, &m->cap_owned, m->n_owned + 1, sizeof *m->owned);
    void *p = lr_xmalloc(bytes ? bytes : 1);
    m->owned[m->n_owned++] = p;
    return p;
}

/* Convert n elements in parallel chunks (the conversion is memory-bound
 * but worth two cores for BF16 layers converted on every forward). */
typedef struct convert_job {
    lr_dtype dt;
    const void *src;
    float *dst;
} convert_job;

static void convert_span(void *ctx, long lo, long hi)
{
    const convert_job *j = ctx;
    lr_to_f32(j->dt, (const char *)j->src + (size_t)lo * lr_dtype_size(j->dt), j->dst + lo,
              (size_t)(hi - lo));
}

static void convert_par(lr_dtype dt, const void *src, float *dst, size_t n)
{
    convert_job j = {dt, src, dst};
    lr_par_range((long)n, (double)n, convert_span, &j);
}

/* float32 data of t: borrowed when stored as aligned F32 and a copy is not
 * required, else an owned converted copy. */
static float *tensor_f32(lr_model *m, const lr_tensor *t, bool copy)
{
    size_t n = (size_t)lr_tensor_numel(t);
    if (!copy && t->dtype == LR_F32 && ((uintptr_t)t->data & 3) == 0) return t->data;
    float *p = own(m, n * sizeof(float));
    convert_par(t->dtype, t->data, p, n);
    return p;
}

static int check_shape(const lr_tensor *t, int64_t d0, int64_t d1, lr_error *err)
{
    bool ok = d1 ? (t->ndim == 2 && t->shape[0] == d0 && t->shape[1] == d1)
                 : (t->ndim == 1 && t->shape[0] == d0);
    if (ok) return 0;
    char got[64] = "";
    for (int i = 0; i < t->ndim && i < 4; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? " x " : "",
                 (long long)t->shape[i]);
    if (d1)
        return lr_errorf(err, "tensor %s: shape [%s], expected [%lld x %lld]", t->name, got,
                         (long long)d0, (long long)d1);
    return lr_errorf(err, "tensor %s: shape [%s], expected [%lld]", t->name, got, (long long)d0);
}

static const lr_tensor *need(const lr_checkpoint *ck, int layer, const char *name, int64_t d0,
                             int64_t d1, lr_error *err)
{
    char full[160];
    const lr_tensor *t;
    if (layer >= 0) {
        snprintf(full, sizeof full, "model.layers.%d.%s", layer, name);
        t = lr_checkpoint_layer_tensor(ck, layer, name);
    } else {
        snprintf(full, sizeof full, "%s", name);
        t = lr_checkpoint_tensor(ck, name);
    }
    if (!t) {
        lr_errorf(err, "%s: tensor %s missing", ck->source ? ck->source : "checkpoint", full);
        return NULL;
    }
    if (check_shape(t, d0, d1, err)) {
        lr_error_prefix(err, "%s", ck->source ? ck->source : "checkpoint");
        return NULL;
    }
    return t;
}

static void add_param(lr_model *m, const char *name, float *data, int layer, int ndim,
                      int64_t d0, int64_t d1)
{
    m->params = lr_xrealloc(m->params, (m->n_params + 1) * sizeof *m->params);
    lr_model_param *p = &m->params[m->n_params++];
    char *nm = own(m, strlen(name) + 1);
    strcpy(nm, name);
    p->name = nm;
    p->data = data;
    p->ndim = ndim;
    p->shape[0] = d0;
    p->shape[1] = ndim > 1 ? d1 : 0;
    p->numel = ndim > 1 ? d0 * d1 : d0;
    p->layer = layer;
}

static void compute_inv_freq(lr_model *m)
{
    const lr_config *c = &m->cfg;
    int half = m->hd / 2;
    m->inv_freq = own(m, half * sizeof(double));
    for (int i = 0; i < half; i++) {
        double inv = 1.0 / pow(c->rope_theta, (2.0 * i) / m->hd);
        if (c->rope_type == LR_ROPE_LLAMA3) {
            double factor = c->rope_factor, lo = c->rope_low_freq_factor,
                   hi = c->rope_high_freq_factor, old = c->rope_original_max_pos;
            double lo_wl = old / lo, hi_wl = old / hi, wl = 2 * M_PI / inv;
            double scaled = wl > lo_wl ? inv / factor : inv;
            if (wl >= hi_wl && wl <= lo_wl) {
                double smooth = (old / wl - lo) / (hi - lo);
                scaled = (1 - smooth) * scaled / factor + smooth * scaled;
            }
            inv = scaled;
        }
        m->inv_freq[i] = inv;
    }
}

/* positions lo .. hi of the RoPE tables */
static void rope_table_rows(void *ctx, long lo, long hi)
{
    lr_model *m = ctx;
    const int half = m->hd / 2;
    for (long p = lo; p < hi; p++)
        for (int i = 0; i < half; i++) {
            double a = p * m->inv_freq[i];
            m->rope_cos[(size_t)p * half + i] = (float)cos(a);
            m->rope_sin[(size_t)p * half + i] = (float)sin(a);
        }
}

void lr_model_rope_reserve(lr_model *m, int len)
{
    if (len <= m->rope_len) return;
    int n = LR_MAX(len, 2 * m->rope_len);
    n = LR_MAX(n, 64);
    int half = m->hd / 2;
    free(m->rope_cos);
    free(m->rope_sin);
    m->rope_cos = lr_xmalloc((size_t)n * half * sizeof(float));
    m->rope_sin = lr_xmalloc((size_t)n * half * sizeof(float));
    lr_par_range(n, 16.0 * n * half, rope_table_rows, m);   /* sin and cos: ~16 elements' work */
    m->rope_len = n;
}

static lr_model *model_new(const lr_checkpoint *ck, bool trainable, lr_error *err)
{
    const lr_config *c = &ck->cfg;
    const char *src = ck->source ? ck->source : "checkpoint";
    if (c->hidden <= 0 || c->n_layers <= 0 || c->n_heads <= 0 || c->n_kv_heads <= 0 ||
        c->head_dim <= 0 || c->head_dim % 2 || c->n_heads % c->n_kv_heads || c->vocab <= 0) {
        lr_errorf(err, "%s: config.json: inconsistent model dimensions", src);
        return NULL;
    }
    lr_model *m = lr_xcalloc(1, sizeof *m);
    m->ck = ck;
    m->cfg = *c;
    m->H = c->hidden;
    m->nh = c->n_heads;
    m->nkv = c->n_kv_heads;
    m->hd = c->head_dim;
    m->qdim = m->nh * m->hd;
    m->kvdim = m->nkv * m->hd;
    m->n_layers = c->n_layers;
    m->vocab = c->vocab;
    m->window = c->sliding_window > 0 ? c->sliding_window : 0;
    m->eps = (float)c->rms_eps;
    m->scale = (float)(1.0 / sqrt((double)m->hd));
    m->trainable = trainable;
    m->scratch_layer = -1;
    m->attn_gemm_min = 96;
    m->layers = lr_xcalloc(m->n_layers, sizeof *m->layers);
    m->src = lr_xcalloc((size_t)m->n_layers * LR_NW, sizeof *m->src);
    m->convert = lr_xcalloc(m->n_layers, sizeof *m->convert);
    const int H = m->H;
    char name[160];

    /* embeddings, final norm, LM head */
    const char *emb_name = lr_global_tensors[LR_T_EMBED].name;
    const char *norm_name = lr_global_tensors[LR_T_NORM].name;
    const char *head_name = lr_global_tensors[LR_T_HEAD].name;
    const lr_tensor *emb = need(ck, -1, emb_name, m->vocab, H, err);
    const lr_tensor *fn = need(ck, -1, norm_name, H, 0, err);
    if (!emb || !fn) goto fail;
    m->embed_t = emb;
    if (trainable || emb->dtype == LR_F32) m->embed = tensor_f32(m, emb, trainable);
    m->final_norm = tensor_f32(m, fn, true);
    if (trainable) add_param(m, emb_name, m->embed, -1, 2, m->vocab, H);
    const lr_tensor *head = lr_checkpoint_tensor(ck, head_name);
    if (head && check_shape(head, m->vocab, H, err)) {
        lr_error_prefix(err, "%s", src);
        goto fail;
    }
    if (c->tie_embeddings || !head) {
        m->lm_head = m->embed;
        m->lm_head_t = emb;
    } else {
        m->lm_head_t = head;
        if (trainable || head->dtype == LR_F32) m->lm_head = tensor_f32(m, head, trainable);
    }

    size_t scratch = 0;
    for (int l = 0; l < m->n_layers; l++) {
        lr_layer_w *w = &m->layers[l];
        const lr_layer_layout full = {true, c->intermediate};
        const lr_layer_layout *lay = ck->layers ? &ck->layers[l] : &full;
        w->attn = lay->attn;
        w->mlp = lay->mlp;
        const lr_tensor **s = &m->src[(size_t)l * LR_NW];
        /* every tensor of the schema: matrices noted in src, vectors copied */
        for (int k = 0; k < LR_NT; k++) {
            const lr_tensor_spec *sp = &lr_layer_tensors[k];
            if (!lr_spec_present(sp, c, lay)) continue;
            int64_t shape[2];
            lr_spec_shape(sp, c, lay->mlp, shape);
            const lr_tensor *t = need(ck, l, sp->name, shape[0], shape[1], err);
            if (!t) goto fail;
            if (sp->proj >= 0)
                s[sp->proj] = t;
            else
                *lr_layer_slot(w, k) = tensor_f32(m, t, true);
        }
        /* matrices: borrowed / copied now, or converted per forward */
        size_t need_scratch = 0;
        for (int i = 0; i < LR_NW; i++)
            if (s[i] && !trainable && (s[i]->dtype != LR_F32 || ((uintptr_t)s[i]->data & 3)))
                m->convert[l] = true;
        for (int k = 0; k < LR_NT; k++) {
            int i = lr_layer_tensors[k].proj;
            if (i < 0 || !s[i]) continue;
            if (m->convert[l])
                need_scratch += (size_t)lr_tensor_numel(s[i]);
            else
                *lr_layer_slot(w, k) = tensor_f32(m, s[i], trainable);
        }
        scratch = LR_MAX(scratch, need_scratch);
        if (trainable) {
            /* in the schema's order: norm, attention, MLP */
            for (int k = 0; k < LR_NT; k++) {
                const lr_tensor_spec *sp = &lr_layer_tensors[k];
                float *data = *lr_layer_slot(w, k);
                if (!data) continue;
                lr_spec_name(sp, l, name, sizeof name);
                if (sp->proj >= 0)
                    add_param(m, name, data, l, 2, s[sp->proj]->shape[0], s[sp->proj]->shape[1]);
                else
                    add_param(m, name, data, l, 1, lr_spec_dim(sp->rows, c, lay->mlp), 0);
            }
        }
    }
    if (trainable) {
        add_param(m, norm_name, m->final_norm, -1, 1, H, 0);
        if (m->lm_head && m->lm_head != m->embed)
            add_param(m, head_name, m->lm_head, -1, 2, m->vocab, H);
    }
    if (scratch) {
        m->scratch = lr_xmalloc(scratch * sizeof(float));
        m->scratch_cap = scratch;
    }
    compute_inv_freq(m);
    lr_model_rope_reserve(m, 256);
    return m;
fail:
    lr_model_free(m);
    return NULL;
}

lr_model *lr_model_new(const lr_checkpoint *ck, lr_error *err)
{
    return model_new(ck, false, err);
}

lr_model *lr_model_new_trainable(const lr_checkpoint *ck, lr_error *err)
{
    return model_new(ck, true, err);
}

int lr_model_set_precision(lr_model *m, lr_precision p, lr_error *err)
{
    if (m->trainable) {
        /* the weights change every step: no converted copy, the
         * products pack both sides per call (lr_bgemm) */
        if (p == LR_PREC_FAST) p = lr_precision_bf16_fast() ? LR_PREC_BF16 : LR_PREC_F32;
        if (p == LR_PREC_INT8)
            return lr_errorf(err, "model: precision int8 is for inference; training takes f32 or bf16");
        if (lr_precision_resolve(p, &p, err)) return -1;
        m->prec = p;
        return 0;
    }
    if (lr_precision_resolve(p, &p, err)) return -1;
    if (p == m->prec) return 0;
    if (m->prec != LR_PREC_F32)
        return lr_errorf(err, "model: precision can be set once, on an inference model");
    if (p == LR_PREC_F32) return 0;
    m->qm = lr_xcalloc((size_t)m->n_layers * LR_NW, sizeof *m->qm);
    for (int l = 0; l < m->n_layers; l++) {
        for (int i = 0; i < LR_NW; i++) {
            const lr_tensor *t = m->src[(size_t)l * LR_NW + i];
            if (t) m->qm[(size_t)l * LR_NW + i] = lr_qmat_new(p, t);
        }
        m->convert[l] = false;   /* the fp32 matrices are no longer needed */
    }
    free(m->scratch);
    m->scratch = NULL;
    m->scratch_cap = 0;
    m->prec = p;
    return 0;
}

lr_precision lr_model_precision(const lr_model *m)
{
    return m->prec;
}

void lr_model_free(lr_model *m)
{
    if (!m) return;
    if (m->qm)
        for (size_t i = 0; i < (size_t)m->n_layers * LR_NW; i++) lr_qmat_free(m->qm[i]);
    free(m->qm);
    for (size_t i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->params);
    free(m->layers);
    free(m->src);
    free(m->convert);
    free(m->scratch);
    free(m->rope_cos);
    free(m->rope_sin);
    free(m->work.buf);
    free(m->work.ibuf);
    free(m);
}

const lr_config *lr_model_config(const lr_model *m)
{
    return &m->cfg;
}

const lr_layer_w *lr_model_layer_weights(lr_model *m, int l)
{
    lr_layer_w *w = &m->layers[l];
    if (!m->convert[l] || m->scratch_layer == l) return w;
    if (m->scratch_layer >= 0) {
        lr_layer_w *o = &m->layers[m->scratch_layer];
        o->wq = o->wk = o->wv = o->wo = o->w_gate = o->w_up = o->w_down = NULL;
    }
    float **dst[LR_NW] = {&w->wq, &w->wk, &w->wv, &w->wo, &w->w_gate, &w->w_up, &w->w_down};
    float *p = m->scratch;
    for (int i = 0; i < LR_NW; i++) {
        const lr_tensor *t = m->src[(size_t)l * LR_NW + i];
        if (!t) continue;
        size_t n = (size_t)lr_tensor_numel(t);
        convert_par(t->dtype, t->data, p, n);
        *dst[i] = p;
        p += n;
    }
    m->scratch_layer = l;
    return w;
}

int lr_model_params(lr_model *m, lr_model_param **params)
{
    *params = m->params;
    return m->n_params;
}

int lr_model_store(lr_model *m, lr_checkpoint *ck, lr_error *err)
{
    if (!m->trainable) return lr_errorf(err, "model: not trainable");
    for (int i = 0; i < m->n_params; i++) {
        const lr_model_param *p = &m->params[i];
        const lr_tensor *t = lr_checkpoint_tensor(ck, p->name);
        lr_dtype dt = t ? t->dtype : LR_F32;
        void *data = lr_xmalloc((size_t)p->numel * lr_dtype_size(dt));
        lr_from_f32(dt, p->data, data, (size_t)p->numel);
        lr_checkpoint_set_tensor(ck, p->name, dt, p->ndim, p->shape, data);
    }
    return 0;
}

void lr_model_release(lr_model *m, lr_checkpoint *ck)
{
    if (!m->trainable) return;   /* an inference model may point into ck's data */
    for (int i = 0; i < m->n_params; i++) lr_checkpoint_drop_data(ck, m->params[i].name);
}

typedef struct embed_job {
    const lr_model *m;
    const int32_t *ids;
    float *x;
} embed_job;

static void embed_rows(void *ctx, long lo, long hi)
{
    const embed_job *j = ctx;
    const lr_model *m = j->m;
    const int H = m->H;
    const lr_tensor *e = m->embed_t;
    const size_t es = lr_dtype_size(e->dtype);
    for (long t = lo; t < hi; t++) {
        if (m->embed)
            memcpy(j->x + (size_t)t * H, m->embed + (size_t)j->ids[t] * H, H * sizeof(float));
        else
            lr_to_f32(e->dtype, (const char *)e->data + (size_t)j->ids[t] * H * es,
                      j->x + (size_t)t * H, H);
    }
}

int lr_model_embed(lr_model *m, const int32_t *ids, int T, float *x, lr_error *err)
{
    for (int t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= m->vocab)
            return lr_errorf(err, "token %d: id %d outside the vocabulary (size %d)", t,
                             (int)ids[t], m->vocab);
    embed_job j = {m, ids, x};
    lr_par_range(T, (double)T * m->H, embed_rows, &j);
    return 0;
}

double lr_model_flops(const lr_model *m, const int *lens, int n_seq)
{
    double tokens = 0, ctx = 0;
    for (int s = 0; s < n_seq; s++) {
        double L = lens[s];
        tokens += L;
        if (m->window && L > m->window)
            ctx += m->window * (m->window + 1) / 2.0 + (L - m->window) * m->window;
        else
            ctx += L * (L + 1) / 2;
    }
    double f = 0;
    for (int l = 0; l < m->n_layers; l++) {
        const lr_layer_w *w = &m->layers[l];
        if (w->attn) {
            f += 2.0 * tokens * m->H * (2.0 * m->qdim + 2.0 * m->kvdim);
            f += 4.0 * ctx * m->nh * m->hd;   /* scores and weighted values */
        }
        if (w->mlp) f += 6.0 * tokens * m->H * w->mlp;
    }
    return f;
}
