/*
 * model-internal.h - the decoder's insides, shared by the forward pass
 * (forward.c), the weights view (model.c) and the backward pass (not
 * installed).
 *
 * Shapes.  T tokens of n_seq sequences are packed into row-major token
 * matrices (no padding): row t belongs to the sequence s with
 * seq_start[s] <= t < seq_start[s+1] and sits at position pos[t] =
 * t - seq_start[s] within it.  H = hidden size, nh / nkv = query / key-value
 * heads, hd = head_dim, qdim = nh*hd, kvdim = nkv*hd, I = a layer's MLP
 * width.  A projection weight W is stored as Hugging Face does,
 * [out x in] row-major, so y = x W^T (+ b).  Query head h reads key-value
 * head h / (nh / nkv).
 *
 * Layer l computes (HF modelling code; the lr.json layout drops
 * sublayers, which then pass the residual stream through):
 *   attention:  xn1 = rmsnorm(x) * input_layernorm
 *               q = xn1 Wq^T + bq, k = xn1 Wk^T + bk, v = xn1 Wv^T + bv
 *               q, k = per-head rmsnorm * q_norm / k_norm  (qwen3 only)
 *               qr, kr = rope(q), rope(k)                   (rotate-half)
 *               att = softmax(scale * qr kr^T + mask) v     per head, per sequence
 *               x_mid = x + att Wo^T
 *   MLP:        xn2 = rmsnorm(x_mid) * post_attention_layernorm
 *               gate = xn2 Wg^T, up = xn2 Wu^T
 *               act = silu(gate) * up                       (enters down_proj)
 *               x_next = x_mid + act Wd^T
 * and after the last layer hidden = rmsnorm(x) * model.norm.
 * rmsnorm(x) = x * rstd with rstd = 1 / sqrt(mean(x^2) + eps).
 * scale = 1/sqrt(hd).  Key j is visible to query i of the same sequence
 * iff j <= i and (window == 0 || i - j < window).
 */
#ifndef LR_MODEL_INTERNAL_H
#define LR_MODEL_INTERNAL_H
#include "internal.h"
#include "io/schema.h"

typedef struct lr_qmat lr_qmat;

/* Weight view of one layer: float32 pointers, either borrowed from the
 * checkpoint (F32 tensors), converted into the model's per-layer scratch
 * (BF16/F16), or owned copies (trainable model).  NULL for an absent
 * tensor: all attention pointers when attn is false, all MLP pointers when
 * mlp == 0, biases without attn_bias, q_norm/k_norm without qk_norm. */
typedef struct lr_layer_w {
    bool attn;            /* attention sublayer present */
    int mlp;              /* MLP width I (0 = dropped) */
    float *attn_norm;     /* [H] input_layernorm */
    float *wq, *wk, *wv;  /* [qdim x H], [kvdim x H], [kvdim x H] */
    float *bq, *bk, *bv;  /* [qdim], [kvdim], [kvdim] */
    float *q_norm, *k_norm;   /* [hd] */
    float *wo;            /* [H x qdim] */
    float *mlp_norm;      /* [H] post_attention_layernorm */
    float *w_gate, *w_up; /* [I x H] */
    float *w_down;        /* [H x I] */
} lr_layer_w;

/* The field of w that holds the schema's layer tensor t (LR_T_*). */
static inline float **lr_layer_slot(lr_layer_w *w, int t)
{
    switch (t) {
    case LR_T_ATTN_NORM: return &w->attn_norm;
    case LR_T_WQ: return &w->wq;
    case LR_T_BQ: return &w->bq;
    case LR_T_WK: return &w->wk;
    case LR_T_BK: return &w->bk;
    case LR_T_WV: return &w->wv;
    case LR_T_BV: return &w->bv;
    case LR_T_WO: return &w->wo;
    case LR_T_Q_NORM: return &w->q_norm;
    case LR_T_K_NORM: return &w->k_norm;
    case LR_T_MLP_NORM: return &w->mlp_norm;
    case LR_T_WGATE: return &w->w_gate;
    case LR_T_WUP: return &w->w_up;
    case LR_T_WDOWN: return &w->w_down;
    }
    return NULL;
}

/* A trainable parameter: HF tensor name and its float32 data. */
typedef struct lr_model_param {
    const char *name;     /* e.g. "model.layers.3.mlp.up_proj.weight" */
    float *data;
    int64_t numel;
    int ndim;
    int64_t shape[2];
    int layer;            /* -1 for embed_tokens, norm, lm_head */
} lr_model_param;

/* Forward cache: what a backward pass needs, per layer.  Every buffer is
 * row-major over the T packed tokens.  Pointers of a dropped sublayer are
 * NULL.  The cache owns its memory (one arena, grown on demand); all
 * pointers are re-set by each lr_model_forward_cached call.  What costs
 * no product to recompute is not kept, to bound the memory of training:
 * xn1, xn2, act and att are NULL after the forward (the backward
 * recomputes them from x, x_mid, gate and up, and from qr, kr, v and
 * lse), q and k NULL without qk_norm.
 *
 *   x        [T x H]    residual stream entering the layer
 *   rstd1    [T]        1/rms of x (input_layernorm)
 *   xn1      [T x H]    rmsnorm(x) * input_layernorm (input of q/k/v proj)
 *   q        [T x qdim] xn1 Wq^T + bq (before q_norm and RoPE)
 *   k, v     [T x kvdim] likewise (v is final: it enters attention as is)
 *   q_rstd   [T x nh]   1/rms of each head of q (qwen3 q_norm; else NULL)
 *   k_rstd   [T x nkv]  likewise for k
 *   qr       [T x qdim] q after q_norm and RoPE (unscaled)
 *   kr       [T x kvdim] k after k_norm and RoPE
 *   lse      [T x nh]   log-sum-exp over visible keys of scale * qr.kr,
 *                       so P[i][j] = exp(scale * qr_i.kr_j - lse[i]);
 *                       see lr_attention_probs
 *   att      [T x qdim] attention output (input of o_proj)
 *   x_mid    [T x H]    residual after attention (aliases x when the
 *                       attention sublayer is dropped)
 *   rstd2    [T]        1/rms of x_mid (post_attention_layernorm)
 *   xn2      [T x H]    rmsnorm(x_mid) * post_attention_layernorm
 *   gate, up [T x I]    xn2 Wg^T, xn2 Wu^T (before SiLU)
 *   act      [T x I]    silu(gate) * up (input of down_proj)
 * and for the whole model:
 *   x_out    [T x H]    residual stream after the last layer
 *   rstd_out [T]        1/rms of x_out (model.norm)
 *   hidden   [T x H]    final-norm hidden states (what pooling reads)
 */
typedef struct lr_layer_cache {
    float *x;
    float *rstd1, *xn1, *q, *k, *v, *q_rstd, *k_rstd, *qr, *kr, *lse, *att;
    float *x_mid;
    float *rstd2, *xn2, *gate, *up, *act;
} lr_layer_cache;

typedef struct lr_fwd_cache {
    int T, n_seq, n_layers;
    int *lens;              /* [n_seq] */
    int *seq_start;         /* [n_seq + 1] */
    int *pos;               /* [T] position within its sequence */
    int32_t *ids;           /* [T] copy of the input ids */
    lr_layer_cache *layers; /* [n_layers] */
    float *x_out, *rstd_out, *hidden;
    /* arena */
    float *buf;
    size_t buf_cap;
    size_t int_cap;
} lr_fwd_cache;

/* Per-forward workspace of the inference path (grown on demand). */
typedef struct lr_work {
    size_t cap;           /* floats in buf */
    float *buf;
    int *ibuf;            /* seq_start, pos */
    size_t icap;
} lr_work;

struct lr_model {
    const lr_checkpoint *ck;
    lr_config cfg;
    int H, nh, nkv, hd, qdim, kvdim, n_layers, vocab;
    int window;               /* sliding window, 0 = none */
    float eps, scale;
    bool trainable;           /* every weight below an owned float32 copy */

    lr_layer_w *layers;       /* [n_layers]; big matrices NULL until viewed
                               * when stored in BF16/F16 */
    const lr_tensor **src;    /* [n_layers * LR_NW] stored big matrices */
    bool *convert;            /* [n_layers]: big matrices need conversion */
    float *scratch;           /* one layer's converted big matrices */
    size_t scratch_cap;
    int scratch_layer;        /* layer currently converted, -1 none */

    float *embed;             /* [vocab x H] float32 (borrowed/owned) or NULL */
    const lr_tensor *embed_t; /* stored embedding */
    float *final_norm;        /* [H] */
    float *lm_head;           /* [vocab x H]: == embed when tied; NULL when
                               * absent or stored in 16 bits (not trainable) */
    const lr_tensor *lm_head_t;

    double *inv_freq;         /* [hd/2], rope_scaling applied */
    float *rope_cos, *rope_sin;   /* [rope_len x hd/2] */
    int rope_len;

    lr_precision prec;        /* of the projections */
    lr_qmat **qm;             /* [n_layers * LR_NW] when prec is not f32 */
    int attn_gemm_min;        /* sequences at least this long use GEMM attention */
    lr_work work;
    void **owned;             /* owned float32 buffers */
    size_t n_owned, cap_owned;
    lr_model_param *params;         /* trainable: every parameter */
    int n_params;
};

/* Reduced-precision projection weights (qgemm.c). */
/* Whether bf16 products run faster than fp32 ones on this CPU (the
 * table above fast_choice in qgemm.c). */
bool lr_precision_bf16_fast(void);
/* Convert t ([out x in], any stored dtype) for p (LR_PREC_BF16 or
 * LR_PREC_INT8; the CPU must support it). */
lr_qmat *lr_qmat_new(lr_precision p, const lr_tensor *t);
void lr_qmat_free(lr_qmat *q);
size_t lr_qmat_bytes(const lr_qmat *q);
/* y[T x out] = beta * y + x[T x in] W^T, beta 0 or 1; threaded. */
void lr_qgemm(const lr_qmat *q, const float *x, int T, float *y, float beta);
/* C [m x n] = op(A) op(B) (+ C when beta is 1; beta 0 or 1), row-major
 * as lr_sgemm with alpha 1: A and B rounded to bf16, products summed in
 * fp32 (AVX512-BF16, which the CPU must have); threaded. */
void lr_bgemm(bool trans_a, bool trans_b, int m, int n, int k, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc);

/* The big per-layer matrices are numbered LR_WQ .. LR_WDOWN (schema.h). */

/* --- weights (model.c) --- */
/* An lr_model whose weights are all owned float32 copies (embeddings,
 * lm_head when untied, norms, biases, matrices): training updates them in
 * place through lr_model_layer_weights / lr_model_params. */
lr_model *lr_model_new_trainable(const lr_checkpoint *ck, lr_error *err);
/* Layer l's weight view.  Converts BF16/F16 matrices into the model's
 * scratch: the view stays valid until the next call for another layer. */
const lr_layer_w *lr_model_layer_weights(lr_model *m, int l);
/* Trainable model: every parameter with its HF name (the model owns the
 * array).  Tied embeddings appear once, as model.embed_tokens.weight. */
int lr_model_params(lr_model *m, lr_model_param **params);
/* Trainable model: write every parameter back into ck in the dtype it was
 * stored in (lr_checkpoint_set_tensor). */
int lr_model_store(lr_model *m, lr_checkpoint *ck, lr_error *err);
/* Trainable model: drop ck's copies of the parameters, which the model
 * holds itself (lr_checkpoint_drop_data), until lr_model_store. */
void lr_model_release(lr_model *m, lr_checkpoint *ck);
/* Make the RoPE tables cover positions [0, len). */
void lr_model_rope_reserve(lr_model *m, int len);
/* Embedding rows of ids into x [T x H]; error on an id outside the vocabulary. */
int lr_model_embed(lr_model *m, const int32_t *ids, int T, float *x, lr_error *err);

/* --- layer steps (forward.c); parallel on the worker pool inside (run
 * from inside a pool task, they run serially) --- */
/* y = rmsnorm(x) * w over rows of n; rstd (nullable) gets 1/rms per row.
 * y may equal x. */
void lr_rmsnorm(float *y, float *rstd, const float *x, const float *w, int rows, int n, float eps);
/* y[T x out] = beta * y + x[T x in] W^T (+ b broadcast if b). BLIS. */
void lr_linear(float *y, const float *x, const float *w, const float *b, int T, int in, int out,
               float beta);
/* Rotate-half RoPE in place on x [T x heads*hd] at positions pos[t];
 * inverse rotates by minus the angle (the transpose, for backward). */
void lr_rope(const lr_model *m, float *x, int T, int heads, const int *pos, bool inverse);
/* Causal attention per sequence (and sliding window): att [T x qdim] from
 * qr [T x qdim], kr, v [T x kvdim]; lse (nullable) [T x nh]. */
void lr_attention(lr_model *m, const float *qr, const float *kr, const float *v,
                  const int *seq_start, int n_seq, float *att, float *lse);
/* Recompute attention probabilities of query rows [i0, i1) of one head of
 * one sequence from the cache: P [(i1-i0) x len], zero where masked. */
void lr_attention_probs(const lr_model *m, const lr_fwd_cache *c, int layer, int seq, int head,
                        int i0, int i1, float *P);
/* act = silu(gate) * up over n elements (act may alias gate or up). */
void lr_swiglu(float *act, const float *gate, const float *up, size_t n);
/* y += x over n elements */
void lr_add(float *y, const float *x, size_t n);

/* --- forward with cache (forward.c) --- */
lr_fwd_cache *lr_fwd_cache_new(void);
void lr_fwd_cache_free(lr_fwd_cache *c);
/* Forward that fills the cache (c->hidden holds the final hidden states);
 * stats nullable as in lr_model_forward. */
int lr_model_forward_cached(lr_model *m, const int32_t *ids, const int *lens, int n_seq,
                            lr_fwd_cache *c, struct lr_stats *stats, lr_error *err);

/* --- backward (forward.c) --- */
/* A low-rank adapter on a projection W [out x in] whose weight in the
 * model is the merged W0 + scale B A: the backward adds the gradients
 * of A [rank x in] and B [out x rank] straight from the projection's
 * input X and output gradient dY (dB += scale dY^T (X A^T), dA += scale
 * (dY B)^T X), never forming W's own gradient.  rank 0: no adapter. */
typedef struct lr_adapter {
    const float *a, *b;
    float *ga, *gb;
    int rank;
    float scale;
} lr_adapter;

/* Backward of the whole model from dhidden [T x H], the gradient with
 * respect to c's hidden states (overwritten), adding into the gradient
 * buffers: gw[l]'s fields per layer (NULL: none), g_norm, g_embed
 * (nullable), and the adapters ad[l * LR_NW + LR_WQ..LR_WDOWN] (ad
 * nullable).  work holds lr_model_backward_floats(m, c->T) floats. */
void lr_model_backward(lr_model *m, const lr_fwd_cache *c, const lr_layer_w *gw, float *g_norm,
                       float *g_embed, const lr_adapter *ad, float *dhidden, float *work);
size_t lr_model_backward_floats(const lr_model *m, int T);
/* Pooling backward (pool.c): dhidden [sum(lens) x dim] from the gradient
 * dE [n_seq x dim] of the unnormalised pooled vectors. */
void lr_pool_backward(float *dhidden, const float *dE, const int *lens, int n_seq, int dim,
                      lr_pooling pooling);

/* Carve the next n floats off a scratch buffer: *p advances past them. */
static inline float *lr_carve(float **p, size_t n)
{
    float *r = *p;
    *p += n;
    return r;
}

/* Row kernels of the forward, shared with the backward: a.b, and y += a x. */
float lr_dotf(const float *a, const float *b, int n);
void lr_axpyf(float *y, float a, const float *x, int n);

/* Vectorisable exp for float (Cephes polynomial, relative error < 1.5 ulp);
 * clamped to [-87.3, 88]. */
static inline float lr_expf(float x)
{
    x = x > 88.0f ? 88.0f : x;   /* ternaries, not fminf: they vectorise */
    x = x < -87.3365447505531f ? -87.3365447505531f : x;
    /* round to nearest by the 1.5 * 2^23 trick (floorf blocks vectorisation) */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500E-4f;
    p = p * r + 1.3981999507E-3f;
    p = p * r + 8.3334519073E-3f;
    p = p * r + 4.1665795894E-2f;
    p = p * r + 1.6666665459E-1f;
    p = p * r + 5.0000001201E-1f;
    p = p * r * r + r + 1.0f;
    int32_t i = ((int32_t)n + 127) << 23;
    float f;
    __builtin_memcpy(&f, &i, 4);
    return p * f;
}

#endif
