/* importance.c - importance scores from forward statistics, and the
 * choice of what to cut: sublayers (depth) and MLP channels (width). */
#include "config.h"
#include "internal.h"
#include "io/schema.h"

#include <math.h>

/* Norm of every row of a [rows x cols] tensor (any stored dtype). */
static void row_norms(const lr_tensor *t, double *out)
{
    int64_t rows = t->shape[0], cols = t->shape[1];
    float *buf = lr_xmalloc((size_t)cols * sizeof *buf);
    size_t es = lr_dtype_size(t->dtype);
    for (int64_t r = 0; r < rows; r++) {
        lr_to_f32(t->dtype, (const char *)t->data + (size_t)(r * cols) * es, buf, (size_t)cols);
        double s = 0;
        for (int64_t c = 0; c < cols; c++) s += (double)buf[c] * buf[c];
        out[r] = sqrt(s);
    }
    free(buf);
}

/* Norm of every column of a [rows x cols] tensor. */
static void col_norms(const lr_tensor *t, double *out)
{
    int64_t rows = t->shape[0], cols = t->shape[1];
    float *buf = lr_xmalloc((size_t)cols * sizeof *buf);
    size_t es = lr_dtype_size(t->dtype);
    for (int64_t c = 0; c < cols; c++) out[c] = 0;
    for (int64_t r = 0; r < rows; r++) {
        lr_to_f32(t->dtype, (const char *)t->data + (size_t)(r * cols) * es, buf, (size_t)cols);
        for (int64_t c = 0; c < cols; c++) out[c] += (double)buf[c] * buf[c];
    }
    for (int64_t c = 0; c < cols; c++) out[c] = sqrt(out[c]);
    free(buf);
}

/* Projection p of layer l, whose MLP has width w, with its schema shape. */
static const lr_tensor *mlp_weight(lr_checkpoint *ck, int l, int p, int w, lr_error *err)
{
    const lr_tensor_spec *s = lr_proj_spec(p);
    int64_t shape[2];
    lr_spec_shape(s, &ck->cfg, w, shape);
    const lr_tensor *t = lr_checkpoint_layer_tensor(ck, l, s->name);
    if (!t || t->ndim != 2 || t->shape[0] != shape[0] || t->shape[1] != shape[1]) {
        lr_errorf(err, "%s: model.layers.%d.%s: missing or not [%lld x %lld]", ck->source, l,
                  s->name, (long long)shape[0], (long long)shape[1]);
        return NULL;
    }
    return t;
}

lr_scores *lr_scores_compute(lr_checkpoint *ck, const lr_stats *st, lr_channel_metric metric,
                             lr_error *err)
{
    const lr_config *c = &ck->cfg;
    if (!st && metric != LR_CM_WEIGHT) {
        lr_errorf(err, "channel metric %s needs calibration statistics",
                  lr_channel_metric_name(metric));
        return NULL;
    }
    if (st && (st->n_layers != c->n_layers || st->tokens <= 0)) {
        lr_errorf(err, "%s: no calibration tokens were seen", ck->source);
        return NULL;
    }
    lr_scores *s = lr_scores_new(c->n_layers);
    snprintf(s->model, sizeof s->model, "%s", lr_checkpoint_digest(ck));
    s->hidden = c->hidden;
    s->intermediate = c->intermediate;
    s->tokens = st ? st->tokens : 0;
    snprintf(s->channel_metric, sizeof s->channel_metric, "%s", lr_channel_metric_name(metric));
    double *tmp = lr_xmalloc((size_t)LR_MAX(c->intermediate, 1) * sizeof *tmp);
    double *tmp2 = lr_xmalloc((size_t)LR_MAX(c->intermediate, 1) * sizeof *tmp2);
    for (int l = 0; l < c->n_layers; l++) {
        int w = ck->layers[l].mlp;
        s->attn_present[l] = ck->layers[l].attn;
        s->mlp_width[l] = w;
        if (st && ck->layers[l].attn) s->attn[l] = 1.0 - st->attn_cos[l] / (double)st->tokens;
        if (w == 0) continue;
        if (st) {
            if (st->mlp_width[l] != w || !st->act_abs[l] || !st->act_sq[l]) {
                lr_errorf(err, "layer %d: statistics of width %d for an MLP of width %d", l,
                          st->mlp_width[l], w);
                goto fail;
            }
            s->mlp[l] = 1.0 - st->mlp_cos[l] / (double)st->tokens;
            s->absmean[l] = lr_xmalloc((size_t)w * sizeof(float));
            s->l2[l] = lr_xmalloc((size_t)w * sizeof(float));
            for (int j = 0; j < w; j++) {
                s->absmean[l][j] = (float)(st->act_abs[l][j] / (double)st->tokens);
                s->l2[l][j] = (float)sqrt(st->act_sq[l][j]);
            }
        }
        s->channel[l] = lr_xmalloc((size_t)w * sizeof(float));
        const lr_tensor *down = mlp_weight(ck, l, LR_WDOWN, w, err);
        if (!down) goto fail;
        switch (metric) {
        case LR_CM_ABSMEAN:
            memcpy(s->channel[l], s->absmean[l], (size_t)w * sizeof(float));
            break;
        case LR_CM_WANDA:
            col_norms(down, tmp);
            for (int j = 0; j < w; j++) s->channel[l][j] = (float)(sqrt(st->act_sq[l][j]) * tmp[j]);
            break;
        case LR_CM_WEIGHT: {
            const lr_tensor *gate = mlp_weight(ck, l, LR_WGATE, w, err);
            const lr_tensor *up = mlp_weight(ck, l, LR_WUP, w, err);
            if (!gate || !up) goto fail;
            col_norms(down, tmp);
            row_norms(gate, tmp2);
            for (int j = 0; j < w; j++) tmp[j] *= tmp2[j];
            row_norms(up, tmp2);
            for (int j = 0; j < w; j++) s->channel[l][j] = (float)(tmp[j] * tmp2[j]);
            break;
        }
        }
    }
    free(tmp), free(tmp2);
    return s;
fail:
    free(tmp), free(tmp2);
    lr_scores_free(s);
    return NULL;
}

/* ---------------- summary table ---------------- */

/* rank[l] = 1 + number of present sublayers less important than layer l
 * (ties to the lower layer), 0 when absent or not measured. */
static void ranks(const double *v, int n, int *rank)
{
    for (int l = 0; l < n; l++) {
        rank[l] = 0;
        if (isnan(v[l])) continue;
        rank[l] = 1;
        for (int k = 0; k < n; k++)
            if (!isnan(v[k]) && (v[k] < v[l] || (v[k] == v[l] && k < l))) rank[l]++;
    }
}

void lr_scores_print(const lr_scores *s, FILE *f)
{
    int *ra = lr_xmalloc(s->n_layers * sizeof *ra), *rm = lr_xmalloc(s->n_layers * sizeof *rm);
    ranks(s->attn, s->n_layers, ra);
    ranks(s->mlp, s->n_layers, rm);
    fprintf(f, "model %s, %d layers, %lld calibration tokens, channel metric %s\n", s->model,
            s->n_layers, (long long)s->tokens, s->channel_metric);
    fprintf(f, "importance = 1 - mean cos(x, x + F(norm(x))); rank 1 = least important\n");
    fprintf(f, "layer  attn      rank   mlp       rank   mlp width\n");
    for (int l = 0; l < s->n_layers; l++) {
        char a[32], m[32], w[32];
        if (!s->attn_present[l]) snprintf(a, sizeof a, "%-16s", "dropped");
        else if (isnan(s->attn[l])) snprintf(a, sizeof a, "%-16s", "-");
        else snprintf(a, sizeof a, "%-9.6f %4d  ", s->attn[l], ra[l]);
        if (!s->mlp_width[l]) snprintf(m, sizeof m, "%-16s", "dropped");
        else if (isnan(s->mlp[l])) snprintf(m, sizeof m, "%-16s", "-");
        else snprintf(m, sizeof m, "%-9.6f %4d  ", s->mlp[l], rm[l]);
        snprintf(w, sizeof w, "%d", s->mlp_width[l]);
        fprintf(f, "%5d  %s %s %s\n", l, a, m, w);
    }
    free(ra), free(rm);
}

/* ---------------- depth: which sublayers to drop ---------------- */

static int pick_least(const double *imp, const bool *present, int n, int count, int lo, int hi,
                      bool *drop, const char *kind, lr_error *err)
{
    int cand = 0;
    for (int l = lo; l < hi; l++)
        if (present[l] && !drop[l]) {
            if (isnan(imp[l]))
                return lr_errorf(err, "layer %d: the scores have no %s importance (weight-only "
                                 "scores?): run lr-score with calibration text", l, kind);
            cand++;
        }
    if (count > cand)
        return lr_errorf(err, "cannot drop %d %s sublayers: only %d present%s", count, kind,
                         cand, hi - lo < n ? " outside the protected layers" : "");
    for (int k = 0; k < count; k++) {
        int best = -1;
        for (int l = lo; l < hi; l++)
            if (present[l] && !drop[l] && (best < 0 || imp[l] < imp[best])) best = l;
        drop[best] = true;
    }
    return 0;
}

int lr_select_sublayers(const lr_scores *s, int n_attn, int n_mlp, int keep_first,
                        int keep_last, bool *drop_attn, bool *drop_mlp, lr_error *err)
{
    int n = s->n_layers;
    if (n_attn < 0 || n_mlp < 0 || keep_first < 0 || keep_last < 0)
        return lr_errorf(err, "negative count");
    int lo = LR_MIN(keep_first, n), hi = LR_MAX(lo, n - keep_last);
    bool *mlp_present = lr_xmalloc(n * sizeof *mlp_present);
    for (int l = 0; l < n; l++) mlp_present[l] = s->mlp_width[l] > 0;
    int rc = 0;
    if (n_attn) rc = pick_least(s->attn, s->attn_present, n, n_attn, lo, hi, drop_attn,
                                "attention", err);
    if (rc == 0 && n_mlp)
        rc = pick_least(s->mlp, mlp_present, n, n_mlp, lo, hi, drop_mlp, "MLP", err);
    free(mlp_present);
    return rc;
}

/* ---------------- width: which channels to keep ---------------- */

static const float *sort_key;

/* Descending importance; NaN last; ties to the lower channel. */
static int cmp_desc(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    float x = sort_key[i], y = sort_key[j];
    bool nx = isnan(x), ny = isnan(y);
    if (nx != ny) return nx - ny;
    if (!nx && x != y) return x > y ? -1 : 1;
    return (i > j) - (i < j);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Channels of one layer by descending importance. */
static int *order_channels(const float *imp, int w)
{
    int *o = lr_xmalloc((size_t)w * sizeof *o);
    for (int j = 0; j < w; j++) o[j] = j;
    sort_key = imp;
    qsort(o, w, sizeof *o, cmp_desc);
    sort_key = NULL;
    return o;
}

/* Round to the nearest multiple of m (halves down: never keep more than
 * asked when it is a tie), within [min(m, w), w]; asking for the whole
 * width keeps it, multiple or not. */
static int round_width(double x, int m, int w)
{
    if (x >= w) return w;
    int r = (int)ceil(x / m - 0.5) * m;
    if (r < LR_MIN(m, w)) r = LR_MIN(m, w);
    if (r < 1) r = 1;
    return LR_MIN(r, w);
}

typedef struct { float v; int layer; } gl_item;

static int cmp_gl(const void *a, const void *b)
{
    const gl_item *x = a, *y = b;
    if (x->v != y->v) return x->v > y->v ? -1 : 1;
    return (x->layer > y->layer) - (x->layer < y->layer);
}

lr_width_plan *lr_select_channels(const lr_scores *s, const lr_width_opts *o, lr_error *err)
{
    int n = s->n_layers, m = LR_MAX(o->multiple_of, 1);
    if ((o->keep > 0) == (o->width > 0)) {
        lr_errorf(err, "give either a fraction to keep or a width");
        return NULL;
    }
    if (o->keep > 0 && !(o->keep <= 1)) {
        lr_errorf(err, "keep fraction %g is outside (0, 1]", o->keep);
        return NULL;
    }
    int64_t total = 0, n_mlp = 0;
    for (int l = 0; l < n; l++)
        if (s->mlp_width[l] > 0) {
            total += s->mlp_width[l];
            n_mlp++;
            if (!s->channel[l]) {
                lr_errorf(err, "layer %d: the scores have no channel importance", l);
                return NULL;
            }
        }
    if (n_mlp == 0) {
        lr_errorf(err, "the model has no MLP sublayer left to narrow");
        return NULL;
    }
    if (o->width > 0 && o->width > s->intermediate) {
        lr_errorf(err, "width %d is above the full MLP width %d", o->width, s->intermediate);
        return NULL;
    }
    int *target = lr_xcalloc(n, sizeof *target);
    int **order = lr_xcalloc(n, sizeof *order);
    for (int l = 0; l < n; l++)
        if (s->mlp_width[l] > 0) order[l] = order_channels(s->channel[l], s->mlp_width[l]);
    if (!o->global) {
        for (int l = 0; l < n; l++) {
            int w = s->mlp_width[l];
            if (w == 0) continue;
            /* an explicit width is exact: no rounding, never wider than now */
            target[l] = o->width > 0 ? LR_MIN(o->width, w) : round_width(o->keep * w, m, w);
        }
    } else {
        double fl = o->floor;
        if (!(fl >= 0 && fl <= 1)) {
            lr_errorf(err, "floor %g is outside [0, 1]", fl);
            goto fail;
        }
        int64_t want = o->width > 0 ? (int64_t)o->width * n_mlp
                                    : (int64_t)floor(o->keep * (double)total + 0.5);
        if (want > total) want = total;
        /* each layer keeps its floor; the rest goes to the most important
         * channels of any layer */
        int64_t have = 0;
        for (int l = 0; l < n; l++)
            if (s->mlp_width[l] > 0) {
                target[l] = LR_MAX(1, (int)ceil(fl * s->mlp_width[l]));
                have += target[l];
            }
        if (have < want) {
            gl_item *it = lr_xmalloc((size_t)(total - have) * sizeof *it);
            int64_t k = 0;
            for (int l = 0; l < n; l++)
                for (int j = target[l]; j < s->mlp_width[l]; j++) {
                    float v = s->channel[l][order[l][j]];
                    it[k].v = isnan(v) ? -INFINITY : v;
                    it[k++].layer = l;
                }
            /* within a layer, items come in descending order, so taking
             * the top (want - have) overall takes a prefix of each layer */
            qsort(it, (size_t)k, sizeof *it, cmp_gl);
            for (int64_t i = 0; i < want - have; i++) target[it[i].layer]++;
            free(it);
        }
        for (int l = 0; l < n; l++)
            if (s->mlp_width[l] > 0)
                target[l] = round_width(target[l], m, s->mlp_width[l]);
    }
    lr_width_plan *p = lr_xcalloc(1, sizeof *p);
    p->n_layers = n;
    p->n_keep = target;
    p->keep = order;
    for (int l = 0; l < n; l++)
        if (order[l]) qsort(order[l], target[l], sizeof(int), cmp_int);
    return p;
fail:
    for (int l = 0; l < n; l++) free(order[l]);
    free(order), free(target);
    return NULL;
}

void lr_width_plan_free(lr_width_plan *p)
{
    if (!p) return;
    for (int l = 0; l < p->n_layers; l++) free(p->keep[l]);
    free(p->keep), free(p->n_keep), free(p);
}
