/* lora.c - LoRA adapters on the projections of a trainable model: the
 * target list, A ~ Kaiming-uniform and B = 0 at set-up, and the merged
 * weights W = W0 + s B A rebuilt before each forward.  The forward runs
 * on the merged weights (one product per projection, as without
 * adapters, rather than W0 x plus two thin products); the backward
 * (forward.c, lr_adapter) computes the gradients of A and B from the
 * projection's input and output gradient, without W's dense gradient. */
#include "config.h"
#include "model/tmodel.h"

#include <math.h>

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
    tm->ad = lr_xcalloc((size_t)m->n_layers * LR_NW, sizeof *tm->ad);
    for (int l = 0; l < m->n_layers; l++) {
        lr_layer_w *w = &m->layers[l];
        float *mats[LR_NW] = {w->wq, w->wk, w->wv, w->wo, w->w_gate, w->w_up, w->w_down};
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
            char name[200];
            snprintf(name, sizeof name, "model.layers.%d.%.*s.lora_A", l, base, sp->name);
            int64_t sa[2] = {rank, a->in}, sb[2] = {a->out, rank};
            a->a = lr_tmodel_add_param(tm, name, lr_xmalloc((size_t)rank * a->in * sizeof(float)), 2, sa);
            snprintf(name, sizeof name, "model.layers.%d.%.*s.lora_B", l, base, sp->name);
            a->b = lr_tmodel_add_param(tm, name, lr_xcalloc((size_t)a->out * rank, sizeof(float)), 2, sb);
            a->a->decay = a->b->decay = false;
            /* Kaiming-uniform with a = sqrt(5), as PEFT: bound 1/sqrt(in) */
            double bound = 1.0 / sqrt((double)a->in);
            for (int64_t k = 0; k < a->a->n; k++)
                a->a->w[k] = (float)((2 * lr_rng_uniform(&rng) - 1) * bound);
            tm->ad[(size_t)l * LR_NW + i] = (lr_adapter){a->a->w, a->b->w, a->a->g, a->b->g, rank,
                                                          tm->lscale};
        }
    }
    return 0;
}

/* W = W0 + s B A for every adapter */
void lr_lora_merge(lr_tmodel *tm)
{
    for (int i = 0; i < tm->n_lora; i++) {
        lora *a = &tm->lo[i];
        memcpy(a->w, a->w0, (size_t)a->out * a->in * sizeof(float));
        lr_sgemm(false, false, a->out, a->in, tm->rank, tm->lscale, a->b->w, tm->rank, a->a->w,
                 a->in, 1.0f, a->w, a->in);
    }
}
