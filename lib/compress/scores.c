/* scores.c - the scores stream ("lr.scores"): sublayer importance and MLP
 * channel statistics of one model, one record per layer. */
#include "config.h"
#include "internal.h"

#include <errno.h>
#include <jansson.h>
#include <inttypes.h>
#include <math.h>

lr_scores *lr_scores_new(int n_layers)
{
    lr_scores *s = lr_xcalloc(1, sizeof *s);
    s->n_layers = n_layers;
    s->attn_present = lr_xcalloc(n_layers, sizeof *s->attn_present);
    s->mlp_width = lr_xcalloc(n_layers, sizeof *s->mlp_width);
    s->attn = lr_xmalloc(n_layers * sizeof *s->attn);
    s->mlp = lr_xmalloc(n_layers * sizeof *s->mlp);
    for (int l = 0; l < n_layers; l++) s->attn[l] = s->mlp[l] = NAN;
    s->channel = lr_xcalloc(n_layers, sizeof *s->channel);
    s->absmean = lr_xcalloc(n_layers, sizeof *s->absmean);
    s->l2 = lr_xcalloc(n_layers, sizeof *s->l2);
    return s;
}

void lr_scores_free(lr_scores *s)
{
    if (!s) return;
    for (int l = 0; l < s->n_layers; l++) {
        free(s->channel[l]);
        free(s->absmean[l]);
        free(s->l2[l]);
    }
    free(s->attn_present), free(s->mlp_width), free(s->attn), free(s->mlp);
    free(s->channel), free(s->absmean), free(s->l2);
    free(s);
}

static const char *const metric_names[] = {"wanda", "absmean", "weight"};

const char *lr_channel_metric_name(lr_channel_metric m)
{
    return lr_name_at(metric_names, LR_ARRAY_LEN(metric_names), (unsigned)m);
}

int lr_channel_metric_parse(const char *s, lr_channel_metric *m)
{
    int i = lr_name_index(metric_names, LR_ARRAY_LEN(metric_names), s);
    if (i >= 0) *m = (lr_channel_metric)i;
    return i < 0 ? -1 : 0;
}

int lr_scores_write(FILE *f, const lr_scores *s, lr_error *err)
{
    lr_stream_writer *w = lr_stream_writer_new(f, "scores", LR_SCORES_VERSION, 7, err);
    if (!w) return -1;
    lr_sw_str(w, "model", s->model);
    lr_sw_int(w, "layers", s->n_layers);
    lr_sw_int(w, "hidden", s->hidden);
    lr_sw_int(w, "intermediate", s->intermediate);
    lr_sw_int(w, "tokens", s->tokens);
    lr_sw_int(w, "sequences", s->sequences);
    lr_sw_str(w, "channel_metric", s->channel_metric);
    if (lr_sw_end(w, err) < 0) goto fail;
    for (int l = 0; l < s->n_layers; l++) {
        int w_l = s->mlp_width[l];
        bool stats = w_l > 0 && s->absmean[l] && s->l2[l];
        lr_sw_begin(w, 5 + (w_l > 0) + 2 * stats);
        lr_sw_int(w, "layer", l);
        lr_sw_bool(w, "attn_present", s->attn_present[l]);
        lr_sw_int(w, "mlp_width", w_l);
        lr_sw_float(w, "attn", s->attn[l]);
        lr_sw_float(w, "mlp", s->mlp[l]);
        if (w_l > 0) lr_sw_f32(w, "channel", s->channel[l], w_l);
        if (stats) {
            lr_sw_f32(w, "absmean", s->absmean[l], w_l);
            lr_sw_f32(w, "l2", s->l2[l], w_l);
        }
        if (lr_sw_end(w, err) < 0) goto fail;
    }
    return lr_stream_writer_close(w, err);
fail:
    lr_stream_writer_close(w, NULL);
    return -1;
}

/* A header integer in [min, max]. */
static int hdr_int(const lr_record *h, const char *key, int64_t min, int64_t max, int64_t *v,
                   lr_error *err)
{
    if (lr_rec_int(h, key, v, err) < 0) return -1;
    if (*v < min || *v > max)
        return lr_rec_errorf(h, err, "\"%s\" is %" PRId64 ", expected %" PRId64 "..%" PRId64,
                             key, *v, min, max);
    return 0;
}

/* An optional per-channel bin: absent is fine (NULL), a wrong length is not. */
static int rec_vec(const lr_record *rec, const char *key, int n, bool required, float **out,
                   lr_error *err)
{
    if (!lr_rec_get(rec, key)) {
        if (required) return lr_rec_errorf(rec, err, "key \"%s\" is missing", key);
        return 0;
    }
    float *v = lr_xmalloc((size_t)n * sizeof *v);
    if (lr_rec_f32(rec, key, v, (size_t)n, err) < 0) {
        free(v);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (!isfinite(v[i])) {
            free(v);
            return lr_rec_errorf(rec, err, "\"%s\"[%d] is not finite", key, i);
        }
    *out = v;
    return 0;
}

lr_scores *lr_scores_read(FILE *f, const char *what, lr_error *err)
{
    lr_stream_reader *r = lr_stream_reader_open(f, what, "scores", LR_SCORES_VERSION, err);
    if (!r) return NULL;
    const lr_record *h = lr_stream_header(r), *rec;
    lr_scores *s = NULL;
    int64_t layers, hidden, inter, tokens, seqs;
    if (hdr_int(h, "layers", 1, 100000, &layers, err) < 0 ||
        hdr_int(h, "hidden", 1, INT32_MAX, &hidden, err) < 0 ||
        hdr_int(h, "intermediate", 1, INT32_MAX, &inter, err) < 0 ||
        hdr_int(h, "tokens", 0, INT64_MAX, &tokens, err) < 0 ||
        hdr_int(h, "sequences", 0, INT64_MAX, &seqs, err) < 0)
        goto fail;
    s = lr_scores_new((int)layers);
    s->hidden = (int)hidden;
    s->intermediate = (int)inter;
    s->tokens = tokens;
    s->sequences = seqs;
    lr_channel_metric m;
    if (lr_rec_str(h, "model", s->model, sizeof s->model, err) < 0 ||
        lr_rec_str(h, "channel_metric", s->channel_metric, sizeof s->channel_metric, err) < 0)
        goto fail;
    if (lr_channel_metric_parse(s->channel_metric, &m) < 0) {
        lr_rec_errorf(h, err, "unknown channel_metric \"%s\"", s->channel_metric);
        goto fail;
    }
    int l = 0, rc;
    while ((rc = lr_stream_next(r, &rec, err)) == 1) {
        int64_t layer, width;
        bool ap;
        double ai, mi;
        if (lr_rec_int(rec, "layer", &layer, err) < 0) goto fail;
        if (layer != l) {
            if (l == s->n_layers)
                lr_rec_errorf(rec, err, "more layer records than the header's %d", s->n_layers);
            else
                lr_rec_errorf(rec, err, "layer %" PRId64 " where layer %d was expected", layer, l);
            goto fail;
        }
        if (lr_rec_bool(rec, "attn_present", &ap, err) < 0 ||
            lr_rec_int(rec, "mlp_width", &width, err) < 0 ||
            lr_rec_float(rec, "attn", &ai, err) < 0 || lr_rec_float(rec, "mlp", &mi, err) < 0)
            goto fail;
        if (width < 0 || width > inter) {
            lr_rec_errorf(rec, err, "mlp_width %" PRId64 " is outside 0..%" PRId64, width, inter);
            goto fail;
        }
        /* importance of an absent sublayer must be NaN; of a present one,
         * NaN (not measured) or a number */
        if ((!ap && !isnan(ai)) || (width == 0 && !isnan(mi)) || isinf(ai) || isinf(mi)) {
            lr_rec_errorf(rec, err, "importance given for a dropped sublayer or infinite");
            goto fail;
        }
        s->attn_present[l] = ap;
        s->mlp_width[l] = (int)width;
        s->attn[l] = ai;
        s->mlp[l] = mi;
        if (width > 0) {
            if (rec_vec(rec, "channel", (int)width, true, &s->channel[l], err) < 0 ||
                rec_vec(rec, "absmean", (int)width, false, &s->absmean[l], err) < 0 ||
                rec_vec(rec, "l2", (int)width, false, &s->l2[l], err) < 0)
                goto fail;
        }
        l++;
    }
    if (rc < 0) goto fail;
    if (l != s->n_layers) {
        lr_errorf(err, "%s: %d layer records, the header says %d (truncated stream?)", what, l,
                  s->n_layers);
        goto fail;
    }
    lr_stream_reader_close(r);
    return s;
fail:
    lr_scores_free(s);
    lr_stream_reader_close(r);
    return NULL;
}

lr_scores *lr_scores_load(const char *path, lr_error *err)
{
    bool is_stdin = !path || strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        lr_errorf(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    lr_scores *s = lr_scores_read(f, is_stdin ? "stdin" : path, err);
    if (!is_stdin) fclose(f);
    return s;
}

int lr_scores_check_model(const lr_scores *s, lr_checkpoint *ck, const char *what,
                          lr_error *err)
{
    const lr_config *c = &ck->cfg;
    if (s->n_layers != c->n_layers)
        return lr_errorf(err, "%s: scores of a %d-layer model, but %s has %d layers", what,
                         s->n_layers, ck->source, c->n_layers);
    if (s->hidden != c->hidden || s->intermediate != c->intermediate)
        return lr_errorf(err, "%s: scores of a model with hidden %d, intermediate %d; %s has "
                         "%d, %d", what, s->hidden, s->intermediate, ck->source, c->hidden,
                         c->intermediate);
    for (int l = 0; l < s->n_layers; l++)
        if (s->attn_present[l] != ck->layers[l].attn || s->mlp_width[l] != ck->layers[l].mlp)
            return lr_errorf(err, "%s: layer %d: scored layout (attn %s, mlp %d) differs from "
                             "%s's (attn %s, mlp %d): score the model being cut", what, l,
                             s->attn_present[l] ? "present" : "dropped", s->mlp_width[l],
                             ck->source, ck->layers[l].attn ? "present" : "dropped",
                             ck->layers[l].mlp);
    const char *d = lr_checkpoint_digest(ck);
    if (strcmp(s->model, d) != 0)
        return lr_errorf(err, "%s: scores of model %s, but %s is model %s: score the model "
                         "being cut", what, s->model, ck->source, d);
    return 0;
}

/* The index in ck's lr.json history of the last stage whose input was the
 * model `digest`, or -1: that model is an ancestor of ck. */
static int ancestor_stage(lr_checkpoint *ck, const char *digest)
{
    json_t *hist = json_object_get(ck->lr_json, "history");
    if (!json_is_array(hist) || !digest[0]) return -1;
    for (size_t i = json_array_size(hist); i-- > 0;) {
        json_t *in = json_object_get(json_array_get(hist, i), "input");
        if (json_is_string(in) && strcmp(json_string_value(in), digest) == 0) return (int)i;
    }
    return -1;
}

/* Keep the listed channels (indices into the scored width) of one layer. */
static void take_channels(lr_scores *s, int l, const int *idx, int n)
{
    float **v[3] = {&s->channel[l], &s->absmean[l], &s->l2[l]};
    for (int k = 0; k < 3; k++) {
        if (!*v[k]) continue;
        float *t = lr_xmalloc((size_t)n * sizeof *t);
        for (int j = 0; j < n; j++) t[j] = (*v[k])[idx[j]];
        free(*v[k]);
        *v[k] = t;
    }
    s->mlp_width[l] = n;
}

int lr_scores_align(lr_scores *s, lr_checkpoint *ck, const char *what, int *stages,
                    lr_error *err)
{
    const lr_config *c = &ck->cfg;
    *stages = 0;
    if (strcmp(s->model, lr_checkpoint_digest(ck)) == 0)
        return lr_scores_check_model(s, ck, what, err);
    int first = ancestor_stage(ck, s->model);
    if (first < 0 || s->n_layers != c->n_layers || s->hidden != c->hidden ||
        s->intermediate != c->intermediate)
        return lr_errorf(err, "%s: scores of model %s, but %s is model %s, which does not "
                         "descend from it: score the model being cut", what, s->model,
                         ck->source, lr_checkpoint_digest(ck));
    for (int l = 0; l < c->n_layers; l++) {
        int w = ck->layers[l].mlp, ws = s->mlp_width[l];
        if ((ck->layers[l].attn && !s->attn_present[l]) || (w > 0 && ws == 0))
            return lr_errorf(err, "%s: layer %d: %s has a sublayer the scored ancestor %s had "
                             "dropped: score the model being cut", what, l, ck->source, s->model);
        if (!ck->layers[l].attn) s->attn_present[l] = false, s->attn[l] = NAN;
        if (w == 0) {
            free(s->channel[l]), free(s->absmean[l]), free(s->l2[l]);
            s->channel[l] = s->absmean[l] = s->l2[l] = NULL;
            s->mlp_width[l] = 0;
            s->mlp[l] = NAN;
        } else if (ws != w) {
            /* a descendant keeps a subset of its ancestor's channels, so
             * only full-width scores can be mapped through kept_channels */
            int *kept;
            if (ws != c->intermediate || lr_kept_channels(ck, l, &kept, NULL) < 0 || !kept)
                return lr_errorf(err, "%s: layer %d: the MLP was narrowed from %d to %d "
                                 "channels since it was scored: score the model being cut",
                                 what, l, ws, w);
            take_channels(s, l, kept, w);
            free(kept);
        }
    }
    *stages = (int)json_array_size(json_object_get(ck->lr_json, "history")) - first;
    snprintf(s->model, sizeof s->model, "%s", lr_checkpoint_digest(ck));
    return 0;
}
