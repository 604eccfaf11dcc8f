/* surgery-width.c - MLP channel pruning: keep chosen rows of gate_proj and
 * up_proj and the matching columns of down_proj, in their order. */
#include "config.h"
#include "internal.h"
#include "io/schema.h"

#include <jansson.h>
#include <limits.h>

/* lr.json's kept_channels[l] as full-width indices of the current
 * channels, or NULL when the layer is at full width (identity).
 * -1 when the numbering is unknown (narrower, nothing recorded). */
int lr_kept_channels(lr_checkpoint *ck, int l, int **out, lr_error *err)
{
    int w = ck->layers[l].mlp;
    *out = NULL;
    json_t *kc = json_object_get(ck->lr_json, "kept_channels");
    char key[16];
    snprintf(key, sizeof key, "%d", l);
    json_t *a = json_is_object(kc) ? json_object_get(kc, key) : NULL;
    if (!a) {
        if (w == ck->cfg.intermediate) return 0;
        return lr_errorf(err, "%s: layer %d: MLP of width %d without lr.json kept_channels: "
                         "its channel numbering is unknown", ck->source, l, w);
    }
    if (!json_is_array(a) || (int)json_array_size(a) != w)
        return lr_errorf(err, "%s: lr.json kept_channels \"%s\": expected an array of %d "
                         "channel indices", ck->source, key, w);
    int *v = lr_xmalloc((size_t)w * sizeof *v);
    for (int j = 0; j < w; j++) {
        json_t *x = json_array_get(a, j);
        json_int_t i = json_is_integer(x) ? json_integer_value(x) : -1;
        if (i < 0 || i >= ck->cfg.intermediate || (j > 0 && i <= v[j - 1])) {
            free(v);
            return lr_errorf(err, "%s: lr.json kept_channels \"%s\"[%d]: expected ascending "
                             "indices below %d", ck->source, key, j, ck->cfg.intermediate);
        }
        v[j] = (int)i;
    }
    *out = v;
    return 0;
}

/* Copy the listed rows of a [rows x cols] tensor (elements of a vector). */
static void *take_rows(const lr_tensor *t, const int *keep, int n)
{
    size_t row = (size_t)(t->ndim == 2 ? t->shape[1] : 1) * lr_dtype_size(t->dtype);
    char *d = lr_xmalloc((size_t)n * row);
    for (int i = 0; i < n; i++) memcpy(d + (size_t)i * row, (const char *)t->data + (size_t)keep[i] * row, row);
    return d;
}

/* Copy the listed columns of a [rows x cols] tensor. */
static void *take_cols(const lr_tensor *t, const int *keep, int n)
{
    size_t es = lr_dtype_size(t->dtype), cols = (size_t)t->shape[1];
    int64_t rows = t->shape[0];
    char *d = lr_xmalloc((size_t)rows * n * es);
    for (int64_t r = 0; r < rows; r++) {
        const char *src = (const char *)t->data + (size_t)r * cols * es;
        char *dst = d + (size_t)r * n * es;
        for (int i = 0; i < n; i++) memcpy(dst + (size_t)i * es, src + (size_t)keep[i] * es, es);
    }
    return d;
}

static int cut_layer(lr_checkpoint *ck, int l, const int *keep, int n, lr_error *err)
{
    int w = ck->layers[l].mlp;
    for (int i = 0; i < n; i++)
        if (keep[i] < 0 || keep[i] >= w || (i > 0 && keep[i] <= keep[i - 1]))
            return lr_errorf(err, "layer %d: channel list must ascend within 0..%d", l, w - 1);
    /* the MLP's tensors with a dimension of its width: rows of gate_proj
     * and up_proj, columns of down_proj */
    const lr_config *c = &ck->cfg;
    const lr_layer_layout *L = &ck->layers[l];
    char name[128];
    int64_t shape[2];
    for (int k = 0; k < LR_NT; k++) {
        const lr_tensor_spec *s = &lr_layer_tensors[k];
        if ((s->rows != LR_D_MLP && s->cols != LR_D_MLP) || !lr_spec_present(s, c, L)) continue;
        int nd = lr_spec_shape(s, c, w, shape);
        lr_tensor *t = lr_checkpoint_layer_tensor(ck, l, s->name);
        if (!t || t->ndim != nd || t->shape[0] != shape[0] || (nd == 2 && t->shape[1] != shape[1])) {
            if (nd == 2)
                return lr_errorf(err, "%s: model.layers.%d.%s: missing or not [%lld x %lld]",
                                 ck->source, l, s->name, (long long)shape[0], (long long)shape[1]);
            return lr_errorf(err, "%s: model.layers.%d.%s: missing or not [%lld]", ck->source, l,
                             s->name, (long long)shape[0]);
        }
    }
    int *cur;
    if (lr_kept_channels(ck, l, &cur, err) < 0) return -1;

    for (int k = 0; k < LR_NT; k++) {
        const lr_tensor_spec *s = &lr_layer_tensors[k];
        if ((s->rows != LR_D_MLP && s->cols != LR_D_MLP) || !lr_spec_present(s, c, L)) continue;
        lr_tensor *t = lr_checkpoint_layer_tensor(ck, l, s->name);
        lr_dtype dt = t->dtype;
        void *d = s->rows == LR_D_MLP ? take_rows(t, keep, n) : take_cols(t, keep, n);
        int nd = lr_spec_shape(s, c, n, shape);
        lr_checkpoint_set_tensor(ck, lr_spec_name(s, l, name, sizeof name), dt, nd, shape, d);
    }
    lr_checkpoint_touch(ck);
    ck->layers[l].mlp = n;

    /* record the kept channels in full-width numbering */
    json_t *kc = json_object_get(ck->lr_json, "kept_channels");
    if (!json_is_object(kc)) {
        kc = json_object();
        json_object_set_new(ck->lr_json, "kept_channels", kc);
    }
    char key[16];
    snprintf(key, sizeof key, "%d", l);
    if (n == ck->cfg.intermediate) {
        json_object_del(kc, key);
    } else {
        json_t *a = json_array();
        for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(cur ? cur[keep[i]] : keep[i]));
        json_object_set_new(kc, key, a);
    }
    free(cur);
    return 0;
}

int lr_cut_width(lr_checkpoint *ck, const lr_width_plan *p, lr_error *err)
{
    if (p->n_layers != ck->cfg.n_layers)
        return lr_errorf(err, "channel plan for %d layers, model has %d", p->n_layers,
                         ck->cfg.n_layers);
    for (int l = 0; l < p->n_layers; l++) {
        if (!p->keep[l]) continue;
        if (ck->layers[l].mlp == 0)
            return lr_errorf(err, "layer %d: the MLP is dropped: no channels to keep", l);
        if (p->n_keep[l] < 1 || p->n_keep[l] > ck->layers[l].mlp)
            return lr_errorf(err, "layer %d: cannot keep %d of %d channels", l, p->n_keep[l],
                             ck->layers[l].mlp);
        if (p->n_keep[l] == ck->layers[l].mlp) continue;   /* all kept */
        if (cut_layer(ck, l, p->keep[l], p->n_keep[l], err) < 0) return -1;
    }
    /* entries of MLPs dropped since a previous cut go */
    json_t *kc = json_object_get(ck->lr_json, "kept_channels");
    if (json_is_object(kc)) {
        for (int l = 0; l < ck->cfg.n_layers; l++) {
            char key[16];
            snprintf(key, sizeof key, "%d", l);
            if (ck->layers[l].mlp == 0) json_object_del(kc, key);
        }
        if (json_object_size(kc) == 0) json_object_del(ck->lr_json, "kept_channels");
    }
    return lr_checkpoint_validate(ck, err);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

lr_width_plan *lr_channels_load(const char *path, lr_checkpoint *ck, lr_error *err)
{
    json_t *j = lr_json_load_file(path, err);
    if (!j) return NULL;
    int n = ck->cfg.n_layers, full = ck->cfg.intermediate;
    lr_width_plan *p = lr_xcalloc(1, sizeof *p);
    p->n_layers = n;
    p->n_keep = lr_xcalloc(n, sizeof *p->n_keep);
    p->keep = lr_xcalloc(n, sizeof *p->keep);
    json_t *obj = j;
    if (json_is_object(j) && json_object_get(j, "kept_channels"))
        obj = json_object_get(j, "kept_channels");   /* an lr.json */
    if (!json_is_object(obj)) {
        lr_errorf(err, "%s: expected a JSON object {\"<layer>\": [channel, ...]}", path);
        goto fail;
    }
    const char *key;
    json_t *a;
    json_object_foreach(obj, key, a) {
        char *end;
        long l = strtol(key, &end, 10);
        if (!*key || *end || l < 0 || l >= n) {
            lr_errorf(err, "%s: key \"%s\": expected a layer number in 0..%d", path, key, n - 1);
            goto fail;
        }
        int w = ck->layers[l].mlp;
        if (w == 0) {
            lr_errorf(err, "%s: layer %ld: the MLP is dropped: no channels to keep", path, l);
            goto fail;
        }
        if (!json_is_array(a) || json_array_size(a) == 0) {
            lr_errorf(err, "%s: layer %ld: expected a non-empty array of channel indices", path, l);
            goto fail;
        }
        int m = (int)LR_MIN(json_array_size(a), (size_t)INT_MAX);
        int *v = lr_xmalloc((size_t)m * sizeof *v);
        p->keep[l] = v;
        for (int i = 0; i < m; i++) {
            json_t *x = json_array_get(a, i);
            json_int_t c = json_is_integer(x) ? json_integer_value(x) : -1;
            if (c < 0 || c >= full) {
                lr_errorf(err, "%s: layer %ld: entry %d: expected a channel index in 0..%d", path,
                          l, i, full - 1);
                goto fail;
            }
            v[i] = (int)c;
        }
        qsort(v, m, sizeof *v, cmp_int);
        for (int i = 1; i < m; i++)
            if (v[i] == v[i - 1]) {
                lr_errorf(err, "%s: layer %ld: channel %d listed twice", path, l, v[i]);
                goto fail;
            }
        /* full-width numbering to the current channels */
        int *cur;
        if (lr_kept_channels(ck, (int)l, &cur, err) < 0) goto fail;
        if (cur) {
            int k = 0;
            for (int i = 0; i < m; i++) {
                while (k < w && cur[k] < v[i]) k++;
                if (k == w || cur[k] != v[i]) {
                    lr_errorf(err, "%s: layer %ld: channel %d was already cut from %s", path, l,
                              v[i], ck->source);
                    free(cur);
                    goto fail;
                }
                v[i] = k;
            }
            free(cur);
        } else if (m > w) {
            lr_errorf(err, "%s: layer %ld: %d channels listed, the MLP has %d", path, l, m, w);
            goto fail;
        }
        p->n_keep[l] = m;
    }
    json_decref(j);
    return p;
fail:
    json_decref(j);
    lr_width_plan_free(p);
    return NULL;
}
