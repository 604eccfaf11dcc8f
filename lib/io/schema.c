/* schema.c - the tensor table of a decoder checkpoint (schema.h) and its
 * arithmetic: names, shapes and presence from the config and layout. */
#include "config.h"
#include "io/schema.h"

#include <stdio.h>

const lr_tensor_spec lr_global_tensors[LR_NG] = {
    [LR_T_EMBED] = {"model.embed_tokens.weight", LR_SUB_NONE, LR_D_VOCAB, LR_D_HIDDEN, LR_IF_ALWAYS, LR_INIT_NORMAL, -1, NULL},
    [LR_T_NORM] = {"model.norm.weight", LR_SUB_NONE, LR_D_HIDDEN, LR_D_NONE, LR_IF_ALWAYS, LR_INIT_ONES, -1, NULL},
    [LR_T_HEAD] = {"lm_head.weight", LR_SUB_NONE, LR_D_VOCAB, LR_D_HIDDEN, LR_IF_UNTIED, LR_INIT_NORMAL, -1, NULL},
};

const lr_tensor_spec lr_layer_tensors[LR_NT] = {
    [LR_T_ATTN_NORM] = {"input_layernorm.weight", LR_SUB_ATTN, LR_D_HIDDEN, LR_D_NONE, LR_IF_ALWAYS, LR_INIT_ONES, -1, NULL},
    [LR_T_WQ] = {"self_attn.q_proj.weight", LR_SUB_ATTN, LR_D_Q, LR_D_HIDDEN, LR_IF_ALWAYS, LR_INIT_NORMAL, LR_WQ, "q"},
    [LR_T_BQ] = {"self_attn.q_proj.bias", LR_SUB_ATTN, LR_D_Q, LR_D_NONE, LR_IF_ATTN_BIAS, LR_INIT_ZEROS, -1, NULL},
    [LR_T_WK] = {"self_attn.k_proj.weight", LR_SUB_ATTN, LR_D_KV, LR_D_HIDDEN, LR_IF_ALWAYS, LR_INIT_NORMAL, LR_WK, "k"},
    [LR_T_BK] = {"self_attn.k_proj.bias", LR_SUB_ATTN, LR_D_KV, LR_D_NONE, LR_IF_ATTN_BIAS, LR_INIT_ZEROS, -1, NULL},
    [LR_T_WV] = {"self_attn.v_proj.weight", LR_SUB_ATTN, LR_D_KV, LR_D_HIDDEN, LR_IF_ALWAYS, LR_INIT_NORMAL, LR_WV, "v"},
    [LR_T_BV] = {"self_attn.v_proj.bias", LR_SUB_ATTN, LR_D_KV, LR_D_NONE, LR_IF_ATTN_BIAS, LR_INIT_ZEROS, -1, NULL},
    [LR_T_WO] = {"self_attn.o_proj.weight", LR_SUB_ATTN, LR_D_HIDDEN, LR_D_Q, LR_IF_ALWAYS, LR_INIT_NORMAL, LR_WO, "o"},
    [LR_T_Q_NORM] = {"self_attn.q_norm.weight", LR_SUB_ATTN, LR_D_HEAD, LR_D_NONE, LR_IF_QK_NORM, LR_INIT_ONES, -1, NULL},
    [LR_T_K_NORM] = {"self_attn.k_norm.weight", LR_SUB_ATTN, LR_D_HEAD, LR_D_NONE, LR_IF_QK_NORM, LR_INIT_ONES, -1, NULL},
    [LR_T_MLP_NORM] = {"post_attention_layernorm.weight", LR_SUB_MLP, LR_D_HIDDEN, LR_D_NONE, LR_IF_ALWAYS, LR_INIT_ONES, -1, NULL},
    [LR_T_WGATE] = {"mlp.gate_proj.weight", LR_SUB_MLP, LR_D_MLP, LR_D_HIDDEN, LR_IF_ALWAYS, LR_INIT_NORMAL, LR_WGATE, "gate"},
    [LR_T_WUP] = {"mlp.up_proj.weight", LR_SUB_MLP, LR_D_MLP, LR_D_HIDDEN, LR_IF_ALWAYS, LR_INIT_NORMAL, LR_WUP, "up"},
    [LR_T_WDOWN] = {"mlp.down_proj.weight", LR_SUB_MLP, LR_D_HIDDEN, LR_D_MLP, LR_IF_ALWAYS, LR_INIT_NORMAL, LR_WDOWN, "down"},
};

const lr_tensor_spec *lr_proj_spec(int p)
{
    static const int row[LR_NW] = {LR_T_WQ, LR_T_WK, LR_T_WV, LR_T_WO, LR_T_WGATE, LR_T_WUP, LR_T_WDOWN};
    return &lr_layer_tensors[row[p]];
}

int64_t lr_spec_dim(lr_dim d, const lr_config *c, int mlp_width)
{
    switch (d) {
    case LR_D_NONE: return 0;
    case LR_D_HIDDEN: return c->hidden;
    case LR_D_Q: return (int64_t)c->n_heads * c->head_dim;
    case LR_D_KV: return (int64_t)c->n_kv_heads * c->head_dim;
    case LR_D_HEAD: return c->head_dim;
    case LR_D_MLP: return mlp_width;
    case LR_D_VOCAB: return c->vocab;
    }
    return 0;
}

int lr_spec_shape(const lr_tensor_spec *s, const lr_config *c, int mlp_width, int64_t shape[2])
{
    shape[0] = lr_spec_dim(s->rows, c, mlp_width);
    shape[1] = lr_spec_dim(s->cols, c, mlp_width);
    return s->cols == LR_D_NONE ? 1 : 2;
}

bool lr_spec_present(const lr_tensor_spec *s, const lr_config *c, const lr_layer_layout *L)
{
    if (s->sub == LR_SUB_ATTN && !L->attn) return false;
    if (s->sub == LR_SUB_MLP && L->mlp <= 0) return false;
    switch (s->when) {
    case LR_IF_ALWAYS: return true;
    case LR_IF_UNTIED: return !c->tie_embeddings;
    case LR_IF_ATTN_BIAS: return c->attn_bias;
    case LR_IF_QK_NORM: return c->qk_norm;
    }
    return false;
}

const char *lr_spec_name(const lr_tensor_spec *s, int l, char *buf, size_t n)
{
    if (s->sub == LR_SUB_NONE)
        snprintf(buf, n, "%s", s->name);
    else
        snprintf(buf, n, "model.layers.%d.%s", l, s->name);
    return buf;
}
