/* test-compress.c - scores stream, selection of sublayers and channels,
 * width surgery.  (Importance against the fixtures' float64 references
 * is tested through the tools, in tests/compress.sh.) */
#include "config.h"
#include "lr.h"
#include "check-util.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <unistd.h>

/* ---------------- helpers ---------------- */

/* A small scores table: 4 layers, layer 1 MLP dropped, layer 2 attention
 * dropped, widths 6, 0, 4, 6. */
static lr_scores *sample_scores(void)
{
    lr_scores *s = lr_scores_new(4);
    snprintf(s->model, sizeof s->model, "0123456789abcdef");
    snprintf(s->channel_metric, sizeof s->channel_metric, "wanda");
    s->hidden = 8;
    s->intermediate = 6;
    s->tokens = 93;
    s->sequences = 8;
    static const bool ap[4] = {true, true, false, true};
    static const int w[4] = {6, 0, 4, 6};
    static const double ai[4] = {0.3, 0.1, NAN, 0.2}, mi[4] = {0.05, NAN, 0.01, 0.5};
    static const float ch[4][6] = {{5, 1, 4, 2, 6, 3}, {0}, {0.5f, 0.25f, 1, 0.75f},
                                   {10, 20, 30, 40, 50, 60}};
    for (int l = 0; l < 4; l++) {
        s->attn_present[l] = ap[l];
        s->mlp_width[l] = w[l];
        s->attn[l] = ai[l];
        s->mlp[l] = mi[l];
        if (!w[l]) continue;
        s->channel[l] = malloc(w[l] * sizeof(float));
        memcpy(s->channel[l], ch[l], w[l] * sizeof(float));
        if (l != 2) {   /* layer 2: no activation statistics */
            s->absmean[l] = malloc(w[l] * sizeof(float));
            s->l2[l] = malloc(w[l] * sizeof(float));
            for (int j = 0; j < w[l]; j++) s->absmean[l][j] = j + 0.5f, s->l2[l][j] = 2.0f * j;
        }
    }
    return s;
}

static bool same_double(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

static bool same_vec(const float *a, const float *b, int n)
{
    if (!a || !b) return a == b;
    return memcmp(a, b, n * sizeof *a) == 0;
}

/* Bytes of a stream written by lr_scores_write. */
static char *scores_bytes(const lr_scores *s, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    lr_error err = {{0}};
    ck_assert_int_eq(lr_scores_write(f, s, &err), 0);
    fclose(f);
    return buf;
}

static lr_scores *read_bytes(const void *buf, size_t len, lr_error *err)
{
    FILE *f = fmemopen((void *)buf, len, "rb");
    lr_scores *s = lr_scores_read(f, "mem", err);
    fclose(f);
    return s;
}

/* ---------------- scores stream ---------------- */

START_TEST(scores_roundtrip)
{
    lr_scores *s = sample_scores();
    size_t len;
    char *buf = scores_bytes(s, &len);
    lr_error err = {{0}};
    lr_scores *t = read_bytes(buf, len, &err);
    ck_assert_msg(t, "%s", err.msg);
    ck_assert_str_eq(t->model, s->model);
    ck_assert_str_eq(t->channel_metric, "wanda");
    ck_assert_int_eq(t->n_layers, 4);
    ck_assert_int_eq(t->hidden, 8);
    ck_assert_int_eq(t->intermediate, 6);
    ck_assert_int_eq(t->tokens, 93);
    ck_assert_int_eq(t->sequences, 8);
    for (int l = 0; l < 4; l++) {
        ck_assert_int_eq(t->attn_present[l], s->attn_present[l]);
        ck_assert_int_eq(t->mlp_width[l], s->mlp_width[l]);
        ck_assert(same_double(t->attn[l], s->attn[l]));
        ck_assert(same_double(t->mlp[l], s->mlp[l]));
        ck_assert(same_vec(t->channel[l], s->channel[l], s->mlp_width[l]));
        ck_assert(same_vec(t->absmean[l], s->absmean[l], s->mlp_width[l]));
        ck_assert(same_vec(t->l2[l], s->l2[l], s->mlp_width[l]));
    }
    lr_scores_free(t);
    free(buf);
    lr_scores_free(s);
}
END_TEST

/* Every proper prefix of a valid stream is refused with a message. */
START_TEST(scores_truncated)
{
    lr_scores *s = sample_scores();
    size_t len;
    char *buf = scores_bytes(s, &len);
    for (size_t cut = 0; cut < len; cut++) {
        lr_error err = {{0}};
        lr_scores *t = read_bytes(buf, cut, &err);
        ck_assert_msg(!t, "prefix of %zu bytes accepted", cut);
        ck_assert_msg(strncmp(err.msg, "mem", 3) == 0 && !strchr(err.msg, '\n'),
                      "message '%s'", err.msg);
    }
    /* and every single-byte corruption is refused or read without harm */
    for (size_t i = 0; i < len; i++) {
        char *b = malloc(len);
        memcpy(b, buf, len);
        b[i] ^= 0x5a;
        lr_error err = {{0}};
        lr_scores_free(read_bytes(b, len, &err));
        free(b);
    }
    free(buf);
    lr_scores_free(s);
}
END_TEST

static void expect_refused(const char *buf, size_t len, const char *needle)
{
    lr_error err = {{0}};
    lr_scores *t = read_bytes(buf, len, &err);
    ck_assert_msg(!t, "accepted, expected '%s'", needle);
    ck_assert_msg(strstr(err.msg, needle), "message '%s' lacks '%s'", err.msg, needle);
}

START_TEST(scores_malformed)
{
    lr_error err = {{0}};
    /* another stream */
    char *buf = NULL;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    lr_stream_writer *w = lr_stream_writer_new(f, "embeddings", 1, 0, &err);
    lr_sw_end(w, &err);
    lr_stream_writer_close(w, &err);
    fclose(f);
    expect_refused(buf, len, "embeddings");
    free(buf);

    /* a header with one layer, then a bin of the wrong length */
    f = open_memstream(&buf, &len);
    w = lr_stream_writer_new(f, "scores", 1, 7, &err);
    lr_sw_str(w, "model", "x");
    lr_sw_int(w, "layers", 1);
    lr_sw_int(w, "hidden", 4);
    lr_sw_int(w, "intermediate", 4);
    lr_sw_int(w, "tokens", 3);
    lr_sw_int(w, "sequences", 1);
    lr_sw_str(w, "channel_metric", "wanda");
    lr_sw_end(w, &err);
    float v[3] = {1, 2, 3};
    lr_sw_begin(w, 6);
    lr_sw_int(w, "layer", 0);
    lr_sw_bool(w, "attn_present", true);
    lr_sw_int(w, "mlp_width", 4);
    lr_sw_float(w, "attn", 0.5);
    lr_sw_float(w, "mlp", 0.5);
    lr_sw_f32(w, "channel", v, 3);
    lr_sw_end(w, &err);
    lr_stream_writer_close(w, &err);
    fclose(f);
    expect_refused(buf, len, "channel");
    free(buf);

    /* two copies of one stream: the layers repeat */
    lr_scores *s = sample_scores();
    buf = scores_bytes(s, &len);
    char *two = malloc(2 * len);
    memcpy(two, buf, len);
    memcpy(two + len, buf, len);
    expect_refused(two, 2 * len, "more layer records");
    free(two);
    free(buf);
    lr_scores_free(s);

    /* a layer out of order: a two-layer header, then layer 1 first */
    f = open_memstream(&buf, &len);
    w = lr_stream_writer_new(f, "scores", 1, 7, &err);
    lr_sw_str(w, "model", "x");
    lr_sw_int(w, "layers", 2);
    lr_sw_int(w, "hidden", 4);
    lr_sw_int(w, "intermediate", 3);
    lr_sw_int(w, "tokens", 3);
    lr_sw_int(w, "sequences", 1);
    lr_sw_str(w, "channel_metric", "wanda");
    lr_sw_end(w, &err);
    for (int l = 1; l >= 0; l--) {
        lr_sw_begin(w, 6);
        lr_sw_int(w, "layer", l);
        lr_sw_bool(w, "attn_present", true);
        lr_sw_int(w, "mlp_width", 3);
        lr_sw_float(w, "attn", 0.5);
        lr_sw_float(w, "mlp", 0.5);
        lr_sw_f32(w, "channel", v, 3);
        lr_sw_end(w, &err);
    }
    lr_stream_writer_close(w, &err);
    fclose(f);
    expect_refused(buf, len, "layer 1 where layer 0 was expected");
    free(buf);
}
END_TEST


/* ---------------- surgery on the fixtures (need ../shared) ---------------- */

/* Depth then width surgery on tiny-llama, with tiny-llama-cut's kept
 * channels, gives tiny-llama-cut: same tensors (digest), same lr.json. */
START_TEST(cut_to_fixture_layout)
{
    char dir[2048], cut[2048], lrj[4096];
    if (!shared_path(dir, sizeof dir, "fixtures/tiny-llama")) return;
    shared_path(cut, sizeof cut, "fixtures/tiny-llama-cut");
    snprintf(lrj, sizeof lrj, "%s/lr.json", cut);
    lr_error err = {{0}};
    lr_checkpoint *ck = lr_checkpoint_load(dir, &err), *ref = lr_checkpoint_load(cut, &err);
    ck_assert_msg(ck && ref, "%s", err.msg);
    bool da[4] = {false, false, true, false}, dm[4] = {false, true, false, false};
    ck_assert_msg(lr_drop_sublayers(ck, da, dm, &err) == 0, "%s", err.msg);
    lr_width_plan *p = lr_channels_load(lrj, ck, &err);
    ck_assert_msg(p, "%s", err.msg);
    ck_assert_msg(lr_cut_width(ck, p, &err) == 0, "%s", err.msg);
    lr_width_plan_free(p);
    ck_assert_str_eq(lr_checkpoint_digest(ck), lr_checkpoint_digest(ref));
    for (int l = 0; l < 4; l++) {
        ck_assert_int_eq(ck->layers[l].attn, ref->layers[l].attn);
        ck_assert_int_eq(ck->layers[l].mlp, ref->layers[l].mlp);
    }
    ck_assert(json_equal(json_object_get(ck->lr_json, "kept_channels"),
                         json_object_get(ref->lr_json, "kept_channels")));

    /* in two steps, a superset of the fixture's channels first, then the
     * fixture's (full-width numbers through the recorded kept_channels):
     * the same model */
    lr_checkpoint *ck2 = lr_checkpoint_load(dir, &err);
    ck_assert_int_eq(lr_drop_sublayers(ck2, da, dm, &err), 0);
    json_t *kc = json_object_get(json_object_get(ref->lr_json, "kept_channels"), "0");
    lr_width_plan p1 = {.n_layers = 4};
    int nk[4] = {0}, *kp[4] = {0}, sup[160], ns = 0;
    for (int c = 0, k = 0; c < 160; c++) {
        bool in = k < (int)json_array_size(kc) && json_integer_value(json_array_get(kc, k)) == c;
        if (in) k++;
        if (in || c % 3 == 0) sup[ns++] = c;
    }
    nk[0] = ns, kp[0] = sup;
    p1.n_keep = nk, p1.keep = kp;
    ck_assert_msg(lr_cut_width(ck2, &p1, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(ck2->layers[0].mlp, ns);
    p = lr_channels_load(lrj, ck2, &err);
    ck_assert_msg(p, "%s", err.msg);
    ck_assert_int_eq(lr_cut_width(ck2, p, &err), 0);
    lr_width_plan_free(p);
    ck_assert_str_eq(lr_checkpoint_digest(ck2), lr_checkpoint_digest(ref));
    ck_assert(json_equal(json_object_get(ck2->lr_json, "kept_channels"),
                         json_object_get(ref->lr_json, "kept_channels")));
    /* a channel already cut is refused by name */
    char chp[] = "/tmp/lr-test-channels.XXXXXX";
    close(mkstemp(chp));
    FILE *f = fopen(chp, "w");
    fprintf(f, "{\"0\": [1, 3]}");
    fclose(f);
    ck_assert_ptr_null(lr_channels_load(chp, ck2, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "channel 3 was already cut"));
    /* a dropped MLP has no channels */
    f = fopen(chp, "w");
    fprintf(f, "{\"1\": [1, 3]}");
    fclose(f);
    ck_assert_ptr_null(lr_channels_load(chp, ck2, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "dropped"));
    f = fopen(chp, "w");
    fprintf(f, "{\"0\": [1, 1]}");
    fclose(f);
    ck_assert_ptr_null(lr_channels_load(chp, ck, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "twice"));
    remove(chp);
    lr_checkpoint_free(ck2);
    lr_checkpoint_free(ck);
    lr_checkpoint_free(ref);
}
END_TEST

/* Selection by scores then surgery: widths, dtype and order kept, the
 * kept rows and columns are the chosen ones. */
START_TEST(cut_by_scores_bf16)
{
    char dir[2048];
    if (!shared_path(dir, sizeof dir, "fixtures/tiny-qwen3")) return;
    lr_error err = {{0}};
    lr_checkpoint *ck = lr_checkpoint_load(dir, &err), *orig = lr_checkpoint_load(dir, &err);
    ck_assert_msg(ck && orig, "%s", err.msg);
    lr_scores *s = lr_scores_compute(ck, NULL, LR_CM_WEIGHT, &err);
    ck_assert_msg(s, "%s", err.msg);
    ck_assert_int_eq(lr_scores_check_model(s, ck, "s", &err), 0);
    lr_width_opts o = {.keep = 0.3, .multiple_of = 8};
    lr_width_plan *p = lr_select_channels(s, &o, &err);
    ck_assert_msg(p, "%s", err.msg);
    ck_assert_int_eq(lr_cut_width(ck, p, &err), 0);
    int full = ck->cfg.intermediate, h = ck->cfg.hidden;
    for (int l = 0; l < ck->cfg.n_layers; l++) {
        int w = ck->layers[l].mlp;
        ck_assert_int_eq(w % 8, 0);
        ck_assert_int_eq(w, p->n_keep[l]);
        lr_tensor *g = lr_checkpoint_layer_tensor(ck, l, "mlp.gate_proj.weight");
        lr_tensor *g0 = lr_checkpoint_layer_tensor(orig, l, "mlp.gate_proj.weight");
        lr_tensor *d = lr_checkpoint_layer_tensor(ck, l, "mlp.down_proj.weight");
        lr_tensor *d0 = lr_checkpoint_layer_tensor(orig, l, "mlp.down_proj.weight");
        ck_assert_int_eq(g->dtype, g0->dtype);
        ck_assert_int_eq(g->shape[0], w);
        ck_assert_int_eq(d->shape[1], w);
        size_t es = lr_dtype_size(g->dtype);
        /* every kept channel more important than every cut one */
        float minkept = INFINITY, maxcut = -INFINITY;
        for (int j = 0, k = 0; j < full; j++) {
            if (k < w && p->keep[l][k] == j) {
                ck_assert(memcmp((char *)g->data + (size_t)k * h * es,
                                 (char *)g0->data + (size_t)j * h * es, h * es) == 0);
                for (int r = 0; r < h; r++)
                    ck_assert(memcmp((char *)d->data + ((size_t)r * w + k) * es,
                                     (char *)d0->data + ((size_t)r * full + j) * es, es) == 0);
                minkept = fminf(minkept, s->channel[l][j]);
                k++;
            } else {
                maxcut = fmaxf(maxcut, s->channel[l][j]);
            }
        }
        ck_assert(minkept >= maxcut);
    }
    /* the old scores no longer match the model, nor another model */
    ck_assert_int_eq(lr_scores_check_model(s, ck, "s", &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "score the model being cut"));
    char other[2048];
    shared_path(other, sizeof other, "fixtures/tiny-llama");
    lr_checkpoint *ck2 = lr_checkpoint_load(other, &err);
    ck_assert_msg(ck2, "%s", err.msg);
    ck_assert_int_eq(lr_scores_check_model(s, ck2, "s", &err), -1);
    lr_checkpoint_free(ck2);
    lr_width_plan_free(p);
    lr_scores_free(s);
    lr_checkpoint_free(ck);
    lr_checkpoint_free(orig);
}
END_TEST

/* ---------------- selection ---------------- */

START_TEST(select_sublayers)
{
    lr_scores *s = sample_scores();
    lr_error err = {{0}};
    bool da[4] = {0}, dm[4] = {0};
    ck_assert_int_eq(lr_select_sublayers(s, 1, 1, 0, 0, da, dm, &err), 0);
    ck_assert(!da[0] && da[1] && !da[2] && !da[3]);   /* attn 0.1 at layer 1 */
    ck_assert(!dm[0] && !dm[1] && dm[2] && !dm[3]);   /* mlp 0.01 at layer 2 */
    memset(dm, 0, sizeof dm);
    ck_assert_int_eq(lr_select_sublayers(s, 0, 2, 0, 0, da, dm, &err), 0);
    ck_assert(dm[0] && dm[2] && !dm[3]);
    /* protect the first layer: the two least important of layers 1..3 */
    memset(dm, 0, sizeof dm);
    ck_assert_int_eq(lr_select_sublayers(s, 0, 2, 1, 0, da, dm, &err), 0);
    ck_assert(!dm[0] && dm[2] && dm[3]);
    /* only 3 MLPs present; only 2 outside the protected last layer */
    memset(dm, 0, sizeof dm);
    ck_assert_int_eq(lr_select_sublayers(s, 0, 4, 0, 0, da, dm, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "only 3 present"));
    ck_assert_int_eq(lr_select_sublayers(s, 0, 3, 0, 1, da, dm, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "protected"));
    /* every MLP */
    memset(dm, 0, sizeof dm);
    ck_assert_int_eq(lr_select_sublayers(s, 0, 3, 0, 0, da, dm, &err), 0);
    ck_assert(dm[0] && !dm[1] && dm[2] && dm[3]);
    /* weight-only scores cannot choose sublayers */
    s->mlp[3] = NAN;
    memset(dm, 0, sizeof dm);
    ck_assert_int_eq(lr_select_sublayers(s, 0, 1, 0, 0, da, dm, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "no MLP importance"));
    lr_scores_free(s);
}
END_TEST

static void check_keep(const lr_width_plan *p, int l, int n, const int *want)
{
    ck_assert_int_eq(p->n_keep[l], n);
    for (int i = 0; i < n; i++) ck_assert_int_eq(p->keep[l][i], want[i]);
}

START_TEST(select_channels)
{
    lr_scores *s = sample_scores();
    lr_error err = {{0}};
    lr_width_opts o = {.keep = 0.5, .multiple_of = 1};
    lr_width_plan *p = lr_select_channels(s, &o, &err);
    ck_assert_msg(p, "%s", err.msg);
    /* layer 0 importances 5 1 4 2 6 3: top 3 are channels 4, 0, 2, kept in order */
    check_keep(p, 0, 3, (int[]){0, 2, 4});
    ck_assert_ptr_null(p->keep[1]);
    check_keep(p, 2, 2, (int[]){2, 3});
    check_keep(p, 3, 3, (int[]){3, 4, 5});
    lr_width_plan_free(p);

    /* rounding to a multiple of 4: 3 -> 4, 2 -> 4 (layer 2 has 4) */
    o.multiple_of = 4;
    p = lr_select_channels(s, &o, &err);
    check_keep(p, 0, 4, (int[]){0, 2, 4, 5});
    check_keep(p, 2, 4, (int[]){0, 1, 2, 3});
    lr_width_plan_free(p);

    /* explicit width: exact, never wider than a layer is */
    o = (lr_width_opts){.width = 5, .multiple_of = 4};
    p = lr_select_channels(s, &o, &err);
    ck_assert_int_eq(p->n_keep[0], 5);
    ck_assert_int_eq(p->n_keep[2], 4);
    lr_width_plan_free(p);

    /* global: 8 of 16 channels; floor 1/4 of each layer first (2, 1, 2),
     * then the most important of the rest: all of layer 3 (30..60 > 6) */
    o = (lr_width_opts){.keep = 0.5, .global = true, .floor = 0.25, .multiple_of = 1};
    p = lr_select_channels(s, &o, &err);
    ck_assert_msg(p, "%s", err.msg);
    check_keep(p, 0, 2, (int[]){0, 4});
    check_keep(p, 2, 1, (int[]){2});
    check_keep(p, 3, 5, (int[]){1, 2, 3, 4, 5});
    lr_width_plan_free(p);

    /* out of range */
    o = (lr_width_opts){.keep = 1.5, .multiple_of = 1};
    ck_assert_ptr_null(lr_select_channels(s, &o, &err));
    o = (lr_width_opts){.width = 7, .multiple_of = 1};
    ck_assert_ptr_null(lr_select_channels(s, &o, &err));
    lr_scores_free(s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("compress");
    TCase *tc = tcase_create("stream");
    tcase_add_test(tc, scores_roundtrip);
    tcase_add_test(tc, scores_truncated);
    tcase_add_test(tc, scores_malformed);
    suite_add_tcase(s, tc);
    tc = tcase_create("select");
    tcase_add_test(tc, select_sublayers);
    tcase_add_test(tc, select_channels);
    suite_add_tcase(s, tc);
    tc = tcase_create("fixtures");
    tcase_add_test(tc, cut_to_fixture_layout);
    tcase_add_test(tc, cut_by_scores_bf16);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite_shared(suite()); }
