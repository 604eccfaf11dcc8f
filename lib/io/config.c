/* config.c - config.json (llama, mistral, qwen2, qwen3) and the lr.json layout. */
#include "config.h"
#include "io/checkpoint-int.h"

#include <jansson.h>
#include <math.h>

/* Integer field; `def` < INT_MIN+1 means required. */
#define REQUIRED (-0x7fffffff - 1)

static int get_int(json_t *j, const char *key, int def, int min, const char *what, int *out, lr_error *err)
{
    json_t *v = json_object_get(j, key);
    if (!v || json_is_null(v)) {
        if (def == REQUIRED) return lr_errorf(err, "%s: missing \"%s\"", what, key);
        *out = def;
        return 0;
    }
    json_int_t x;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v))) {
        /* 64.0; range-checked before the conversion, which is undefined
         * for values no integer type holds */
        double d = json_real_value(v);
        if (d < min || d > 0x7fffffff)
            return lr_errorf(err, "%s: \"%s\" = %g out of range", what, key, d);
        x = (json_int_t)d;
    } else {
        return lr_errorf(err, "%s: \"%s\" is not an integer", what, key);
    }
    if (x < min || x > 0x7fffffff) return lr_errorf(err, "%s: \"%s\" = %lld out of range", what, key, (long long)x);
    *out = (int)x;
    return 0;
}

static int get_double(json_t *j, const char *key, double def, const char *what, double *out, lr_error *err)
{
    json_t *v = json_object_get(j, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_number(v)) return lr_errorf(err, "%s: \"%s\" is not a number", what, key);
    *out = json_number_value(v);
    return 0;
}

static int get_bool(json_t *j, const char *key, bool def, const char *what, bool *out, lr_error *err)
{
    json_t *v = json_object_get(j, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v)) return lr_errorf(err, "%s: \"%s\" is not true or false", what, key);
    *out = json_is_true(v);
    return 0;
}

/* bos/eos: an integer, a list (first element taken) or null (-1). */
static int get_token(json_t *j, const char *key, const char *what, int *out, lr_error *err)
{
    json_t *v = json_object_get(j, key);
    *out = -1;
    if (json_is_array(v)) v = json_array_size(v) ? json_array_get(v, 0) : NULL;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 0x7fffffff)
        return lr_errorf(err, "%s: \"%s\" is not a token id", what, key);
    *out = (int)json_integer_value(v);
    return 0;
}

/* The supported families and how they differ from llama; their tensors
 * follow from these flags through the tensor table (schema.h). */
enum { WINDOW_NONE, WINDOW_ALL_LAYERS, WINDOW_REFUSED };
static const struct family {
    const char *type;
    bool attn_bias;   /* q/k/v biases whatever attention_bias says */
    bool qk_norm;     /* per-head RMSNorm of q and k */
    int window;       /* sliding_window on every layer, or use_sliding_window refused */
} families[] = {
    {"llama", false, false, WINDOW_NONE},
    {"mistral", false, false, WINDOW_ALL_LAYERS},
    {"qwen2", true, false, WINDOW_REFUSED},
    {"qwen3", false, true, WINDOW_REFUSED},
};

static int parse(json_t *j, const char *what, lr_config *c, lr_error *err)
{
    memset(c, 0, sizeof *c);
    if (!json_is_object(j)) return lr_errorf(err, "%s: not a JSON object", what);
    json_t *mt = json_object_get(j, "model_type");
    if (!json_is_string(mt)) return lr_errorf(err, "%s: missing \"model_type\"", what);
    const char *type = json_string_value(mt);
    const struct family *fam = NULL;
    char supported[128] = "";
    for (size_t i = 0; i < LR_ARRAY_LEN(families); i++) {
        if (!strcmp(type, families[i].type)) fam = &families[i];
        snprintf(supported + strlen(supported), sizeof supported - strlen(supported), "%s%s",
                 i ? ", " : "", families[i].type);
    }
    if (!fam)
        return lr_errorf(err, "%s: unsupported model_type \"%s\" (supported: %s)", what, type, supported);
    snprintf(c->model_type, sizeof c->model_type, "%s", type);

    json_t *act = json_object_get(j, "hidden_act");
    if (act && !json_is_null(act) && (!json_is_string(act) || strcmp(json_string_value(act), "silu")))
        return lr_errorf(err, "%s: unsupported hidden_act (only \"silu\")", what);

    if (get_int(j, "hidden_size", REQUIRED, 1, what, &c->hidden, err) ||
        get_int(j, "num_hidden_layers", REQUIRED, 1, what, &c->n_layers, err) ||
        get_int(j, "num_attention_heads", REQUIRED, 1, what, &c->n_heads, err) ||
        get_int(j, "num_key_value_heads", c->n_heads, 1, what, &c->n_kv_heads, err) ||
        get_int(j, "intermediate_size", REQUIRED, 1, what, &c->intermediate, err) ||
        get_int(j, "vocab_size", REQUIRED, 1, what, &c->vocab, err) ||
        get_int(j, "max_position_embeddings", 2048, 1, what, &c->max_pos, err) ||
        get_double(j, "rms_norm_eps", 1e-6, what, &c->rms_eps, err) ||
        get_double(j, "rope_theta", 10000.0, what, &c->rope_theta, err) ||
        get_bool(j, "tie_word_embeddings", false, what, &c->tie_embeddings, err) ||
        get_bool(j, "attention_bias", fam->attn_bias, what, &c->attn_bias, err) ||
        get_token(j, "bos_token_id", what, &c->bos_id, err) ||
        get_token(j, "eos_token_id", what, &c->eos_id, err))
        return -1;
    if (fam->attn_bias) c->attn_bias = true;   /* Qwen2 always has q/k/v biases */
    c->qk_norm = fam->qk_norm;
    json_t *hd = json_object_get(j, "head_dim");
    if ((!hd || json_is_null(hd)) && c->hidden % c->n_heads)
        return lr_errorf(err, "%s: hidden_size %d is not a multiple of num_attention_heads %d "
                         "and no \"head_dim\" is given", what, c->hidden, c->n_heads);
    if (get_int(j, "head_dim", c->hidden / c->n_heads, 1, what,
                &c->head_dim, err))
        return -1;
    if (c->n_layers > 65536 || c->n_heads > 65536 || c->head_dim > 65536)
        return lr_errorf(err, "%s: implausible size (num_hidden_layers %d, num_attention_heads %d, head_dim %d)", what,
                         c->n_layers, c->n_heads, c->head_dim);
    if (c->n_heads % c->n_kv_heads)
        return lr_errorf(err, "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", what,
                         c->n_heads, c->n_kv_heads);
    if (c->head_dim % 2) return lr_errorf(err, "%s: head_dim %d is odd (RoPE needs pairs)", what, c->head_dim);
    if (!(c->rms_eps > 0)) return lr_errorf(err, "%s: rms_norm_eps must be positive", what);
    if (!(c->rope_theta > 0)) return lr_errorf(err, "%s: rope_theta must be positive", what);

    /* Sliding window: Mistral's applies to every layer; Qwen's only when
     * use_sliding_window, and then to some layers, which we do not model. */
    if (fam->window == WINDOW_ALL_LAYERS) {
        if (get_int(j, "sliding_window", 0, 0, what, &c->sliding_window, err)) return -1;
    } else if (fam->window == WINDOW_REFUSED) {
        bool use = false;
        if (get_bool(j, "use_sliding_window", false, what, &use, err)) return -1;
        if (use) return lr_errorf(err, "%s: use_sliding_window true is not supported", what);
    }

    json_t *rs = json_object_get(j, "rope_scaling");
    c->rope_type = LR_ROPE_DEFAULT;
    c->rope_factor = 1.0;
    if (rs && !json_is_null(rs)) {
        if (!json_is_object(rs)) return lr_errorf(err, "%s: \"rope_scaling\" is not an object", what);
        json_t *rt = json_object_get(rs, "rope_type");
        if (!rt) rt = json_object_get(rs, "type");
        const char *t = json_is_string(rt) ? json_string_value(rt) : "";
        if (!strcmp(t, "llama3")) {
            char w[600];
            snprintf(w, sizeof w, "%s: rope_scaling", what);
            c->rope_type = LR_ROPE_LLAMA3;
            if (get_double(rs, "factor", 8.0, w, &c->rope_factor, err) ||
                get_double(rs, "low_freq_factor", 1.0, w, &c->rope_low_freq_factor, err) ||
                get_double(rs, "high_freq_factor", 4.0, w, &c->rope_high_freq_factor, err) ||
                get_int(rs, "original_max_position_embeddings", 8192, 1, w, &c->rope_original_max_pos, err))
                return -1;
            if (!(c->rope_factor > 0) || !(c->rope_high_freq_factor > c->rope_low_freq_factor))
                return lr_errorf(err, "%s: rope_scaling: need factor > 0 and high_freq_factor > low_freq_factor",
                                 what);
        } else if (strcmp(t, "default") != 0) {
            return lr_errorf(err, "%s: unsupported rope_scaling type \"%s\" (supported: llama3, default)", what, t);
        }
    }
    return 0;
}

int ck_config_parse(const char *buf, size_t len, const char *what, lr_config *cfg, lr_error *err)
{
    json_t *j = lr_json_parse(buf, len, what, err);
    if (!j) return -1;
    int rc = parse(j, what, cfg, err);
    json_decref(j);
    return rc;
}

int ck_layout_parse(json_t *j, const lr_config *cfg, const char *what, lr_layer_layout *layers, lr_error *err)
{
    for (int i = 0; i < cfg->n_layers; i++) layers[i] = (lr_layer_layout){true, cfg->intermediate};
    if (!j) return 0;
    if (!json_is_object(j)) return lr_errorf(err, "%s: not a JSON object", what);
    json_t *f = json_object_get(j, "format"), *v = json_object_get(j, "version"), *ls = json_object_get(j, "layers");
    if (!json_is_string(f) || strcmp(json_string_value(f), "lr-checkpoint"))
        return lr_errorf(err, "%s: \"format\" is not \"lr-checkpoint\"", what);
    if (!json_is_integer(v) || json_integer_value(v) != 1)
        return lr_errorf(err, "%s: unsupported \"version\" (expected 1)", what);
    if (!json_is_array(ls)) return lr_errorf(err, "%s: missing \"layers\" array", what);
    if ((long)json_array_size(ls) != cfg->n_layers)
        return lr_errorf(err, "%s: %zu layers, but config.json has num_hidden_layers %d", what, json_array_size(ls),
                         cfg->n_layers);
    for (int i = 0; i < cfg->n_layers; i++) {
        json_t *l = json_array_get(ls, i), *a = json_object_get(l, "attn"), *m = json_object_get(l, "mlp");
        if (!json_is_object(l) || !json_is_boolean(a) || !json_is_integer(m) || json_integer_value(m) < 0 ||
            json_integer_value(m) > 0x7fffffff)
            return lr_errorf(err, "%s: layers[%d]: expected {\"attn\": true|false, \"mlp\": width >= 0}", what, i);
        layers[i].attn = json_is_true(a);
        layers[i].mlp = (int)json_integer_value(m);
    }
    return 0;
}
