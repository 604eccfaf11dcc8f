/* tmodel.h - the trainable model's insides, shared by backward.c (the
 * parameters and objectives) and lora.c (the adapters). */
#ifndef LR_TMODEL_H
#define LR_TMODEL_H
#include "model/model-internal.h"

/* One LoRA adapter on a projection weight W [out x in]. */
typedef struct lora {
    float *w;          /* the model's (merged) weight */
    float *w0;         /* frozen base weight */
    lr_tparam *a, *b;  /* A [r x in], B [out x r] */
    int out, in;
} lora;

struct lr_tmodel {
    lr_model *m;
    lr_fwd_cache *cache;
    lr_tparam *params;   /* trainable parameters */
    int n_params;
    size_t cap_params;
    lr_layer_w *gw;      /* per layer: gradient buffers (NULL = frozen/absent) */
    float *g_embed, *g_norm, *g_head;
    int chunk;
    /* LoRA */
    lora *lo;
    int n_lora, rank;
    float lscale;
    lr_adapter *ad;      /* [n_layers * LR_NW] the backward's view of lo */
    /* scratch */
    float *buf;
    size_t buf_cap;
    float *hidden;       /* pooled embeddings / no-cache hidden states */
    size_t hidden_cap;
};

/* Append a trainable parameter over w (borrowed) with a zeroed gradient. */
lr_tparam *lr_tmodel_add_param(lr_tmodel *tm, const char *name, float *w, int ndim,
                               const int64_t *shape);
/* LoRA (lora.c): W = W0 + s B A into the model's weights before a
 * forward (the backward adds the gradients of A and B through tm->ad). */
void lr_lora_merge(lr_tmodel *tm);

#endif
