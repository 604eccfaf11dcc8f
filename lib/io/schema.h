/* schema.h - the tensors of a decoder checkpoint in one table: Hugging
 * Face name, sublayer, shape as a function of the config and the layer's
 * MLP width, the condition for being present, and the initialisation.
 * Every place that names tensors iterates it: checkpoint validation and
 * creation, the model's weights, depth and width surgery, LoRA targets,
 * importance scores.  A family differs from llama only through the
 * conditions (attention biases, q/k norms, tied embeddings). */
#ifndef LR_SCHEMA_H
#define LR_SCHEMA_H
#include "internal.h"

/* The seven projection matrices of a layer. */
enum { LR_WQ, LR_WK, LR_WV, LR_WO, LR_WGATE, LR_WUP, LR_WDOWN, LR_NW };

/* The tensors of one layer, in parameter order (norm, attention with
 * each projection's bias after its weight, MLP). */
enum {
    LR_T_ATTN_NORM, LR_T_WQ, LR_T_BQ, LR_T_WK, LR_T_BK, LR_T_WV, LR_T_BV, LR_T_WO,
    LR_T_Q_NORM, LR_T_K_NORM, LR_T_MLP_NORM, LR_T_WGATE, LR_T_WUP, LR_T_WDOWN, LR_NT
};
/* The tensors outside the layers. */
enum { LR_T_EMBED, LR_T_NORM, LR_T_HEAD, LR_NG };

typedef enum { LR_SUB_NONE, LR_SUB_ATTN, LR_SUB_MLP } lr_sublayer;
/* A dimension: none (a vector has no columns), hidden_size, heads x
 * head_dim, kv heads x head_dim, head_dim, the layer's MLP width,
 * vocab_size. */
typedef enum { LR_D_NONE, LR_D_HIDDEN, LR_D_Q, LR_D_KV, LR_D_HEAD, LR_D_MLP, LR_D_VOCAB } lr_dim;
typedef enum { LR_IF_ALWAYS, LR_IF_UNTIED, LR_IF_ATTN_BIAS, LR_IF_QK_NORM } lr_presence;
/* Hugging Face initialisation: normal(0, initializer_range), ones, zeros. */
typedef enum { LR_INIT_NORMAL, LR_INIT_ONES, LR_INIT_ZEROS } lr_init;

typedef struct lr_tensor_spec {
    const char *name;     /* full name, or for a layer the part after "model.layers.<l>." */
    lr_sublayer sub;      /* the sublayer that owns it (LR_SUB_NONE outside the layers) */
    lr_dim rows, cols;    /* cols LR_D_NONE: a vector of rows */
    lr_presence when;
    lr_init init;
    int proj;             /* LR_WQ .. LR_WDOWN for a projection matrix, else -1 */
    const char *short_name;   /* projections: "q", ..., "down" (LoRA targets) */
} lr_tensor_spec;

extern const lr_tensor_spec lr_layer_tensors[LR_NT];
/* embed_tokens, then (after the layers in parameter order) norm and lm_head */
extern const lr_tensor_spec lr_global_tensors[LR_NG];
/* The layer tensor of projection p. */
const lr_tensor_spec *lr_proj_spec(int p);

int64_t lr_spec_dim(lr_dim d, const lr_config *c, int mlp_width);
/* Shape of s for config c and MLP width mlp_width; returns ndim (1 or 2). */
int lr_spec_shape(const lr_tensor_spec *s, const lr_config *c, int mlp_width, int64_t shape[2]);
/* Present in a checkpoint of config c with layer layout L (NULL outside
 * the layers): its sublayer is kept and its condition holds. */
bool lr_spec_present(const lr_tensor_spec *s, const lr_config *c, const lr_layer_layout *L);
/* Full name of s in layer l (ignored outside the layers), into buf. */
const char *lr_spec_name(const lr_tensor_spec *s, int l, char *buf, size_t n);

#endif
