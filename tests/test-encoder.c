/* test-encoder.c - the encoder API (texts in, embeddings out) against the
 * float64 PyTorch references of the shared fixtures and the golden token
 * ids of the Hugging Face tokenizer. */
#include "config.h"
#include "check-util.h"
#include "lr.h"

#include <jansson.h>
#include <math.h>

/* as in test-forward.c: 10x the largest error measured over the fixtures */
#define TOL_POOLED 1e-5

/* tensor `name` of an F64 safetensors file, as doubles (malloc'ed) */
static double *ref_tensor(const char *path, const char *name, size_t *n)
{
    lr_error e;
    size_t len;
    char *buf = lr_read_file(path, &len, &e);
    ck_assert_msg(buf != NULL, "%s", e.msg);
    uint64_t hl;
    memcpy(&hl, buf, 8);
    ck_assert(8 + hl <= len);
    json_t *hdr = json_loadb(buf + 8, hl, 0, NULL);
    json_t *t = json_object_get(hdr, name);
    ck_assert_msg(t != NULL, "%s: no tensor %s", path, name);
    ck_assert_str_eq(json_string_value(json_object_get(t, "dtype")), "F64");
    json_t *off = json_object_get(t, "data_offsets");
    size_t a = json_integer_value(json_array_get(off, 0)), b = json_integer_value(json_array_get(off, 1));
    ck_assert(8 + hl + b <= len);
    *n = (b - a) / 8;
    double *d = malloc(b - a);
    memcpy(d, buf + 8 + hl + a, b - a);
    json_decref(hdr);
    free(buf);
    return d;
}

/* a JSON array of id arrays, as lr_ids (n in *n) */
static lr_ids *ids_of(json_t *arr, size_t *n)
{
    *n = json_array_size(arr);
    lr_ids *v = calloc(*n, sizeof *v);
    for (size_t s = 0; s < *n; s++) {
        json_t *a = json_array_get(arr, s);
        for (size_t i = 0; i < json_array_size(a); i++)
            lr_ids_push(&v[s], (int32_t)json_integer_value(json_array_get(a, i)));
    }
    return v;
}

/* Embeddings of the fixture's reference ids, in small batches (so that
 * they are sorted and split), against PyTorch's pooled vectors. */
START_TEST(test_embed_reference)
{
    char dir[512], path[600];
    if (!shared_path(dir, sizeof dir, "fixtures/tiny-mistral")) return;
    snprintf(path, sizeof path, "%s/ref-ids.json", dir);
    json_t *j = json_load_file(path, 0, NULL);
    ck_assert_ptr_nonnull(j);
    size_t n;
    lr_ids *ids = ids_of(j, &n);
    json_decref(j);
    snprintf(path, sizeof path, "%s/ref-forward.safetensors", dir);
    const struct { lr_pooling p; int norm; const char *ref; } cases[] = {
        {LR_POOL_LAST, 0, "last"}, {LR_POOL_LAST, 1, "last_normalized"}, {LR_POOL_MEAN, 0, "mean"}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        lr_retrieval_set set = LR_RETRIEVAL_KEEP;
        set.pooling = cases[c].p;
        set.normalize = cases[c].norm;
        lr_error e;
        lr_encoder *enc = lr_encoder_open(dir, &set, &e);
        ck_assert_msg(enc != NULL, "%s", e.msg);
        lr_encoder_set_batch_tokens(enc, 16);
        const int H = lr_encoder_dim(enc);
        float *out = malloc(n * H * sizeof(float));
        ck_assert_msg(lr_encoder_embed(enc, ids, (int)n, out, &e) == 0, "%s", e.msg);
        size_t rn;
        double *ref = ref_tensor(path, cases[c].ref, &rn);
        ck_assert_uint_eq(rn, n * H);
        double err = measured("encoder", cases[c].ref, rel_err_f32_f64(out, ref, n * H));
        ck_assert_msg(err < TOL_POOLED, "%s: rel err %g", cases[c].ref, err);
        lr_encoder_stats st = lr_encoder_get_stats(enc);
        ck_assert_int_eq(st.texts, (int64_t)n);
        ck_assert(st.flops > 0);
        free(ref);
        free(out);
        lr_encoder_free(enc);
    }
    for (size_t s = 0; s < n; s++) free(ids[s].ids);
    free(ids);
}
END_TEST

/* Texts in: the golden texts give the embeddings of the golden ids (the
 * Hugging Face tokenizer's, special tokens included). */
START_TEST(test_encode_texts)
{
    char dir[512], gold[512];
    if (!shared_path(dir, sizeof dir, "fixtures/tiny-mistral") ||
        !shared_path(gold, sizeof gold, "tokenizers/mistral/golden.jsonl"))
        return;
    enum { N = 40 };
    FILE *g = fopen(gold, "r");
    ck_assert_ptr_nonnull(g);
    char *texts[N];
    json_t *arr = json_array();
    char *line = NULL;
    size_t cap = 0;
    for (int i = 0; i < N; i++) {
        ck_assert(getline(&line, &cap, g) > 0);
        json_t *o = json_loads(line, 0, NULL);
        ck_assert_ptr_nonnull(o);
        texts[i] = strdup(json_string_value(json_object_get(o, "text")));
        json_array_append(arr, json_object_get(o, "ids_special"));
        json_decref(o);
    }
    free(line);
    fclose(g);
    size_t n;
    lr_ids *ids = ids_of(arr, &n);
    json_decref(arr);
    lr_retrieval_set set = LR_RETRIEVAL_KEEP;
    set.append_eos = 0;
    set.pooling = LR_POOL_MEAN;
    lr_error e;
    lr_encoder *enc = lr_encoder_open(dir, &set, &e);
    ck_assert_msg(enc != NULL, "%s", e.msg);
    ck_assert(lr_encoder_retrieval(enc)->normalize);   /* the model's default kept */
    lr_encoder_set_batch_tokens(enc, 64);
    const int H = lr_encoder_dim(enc);
    float *a = malloc(N * H * sizeof(float)), *b = malloc(N * H * sizeof(float));
    ck_assert_msg(lr_encoder_encode(enc, true, (const char *const *)texts, N, a, &e) == 0, "%s", e.msg);
    ck_assert_msg(lr_encoder_embed(enc, ids, N, b, &e) == 0, "%s", e.msg);
    for (int i = 0; i < N; i++) {
        double d = 0, m = 0, norm = 0;
        for (int k = 0; k < H; k++) {
            d = fmax(d, fabs(a[i * H + k] - b[i * H + k]));
            m = fmax(m, fabs(b[i * H + k]));
            norm += (double)a[i * H + k] * a[i * H + k];
        }
        ck_assert_msg(d <= 1e-6 * m, "text %d: max diff %g", i, d);
        ck_assert_msg(fabs(norm - 1) < 1e-5, "text %d: norm^2 %g", i, norm);
    }
    /* a query prefix changes queries only */
    lr_encoder_free(enc);
    set.query_prefix = "search: ";
    enc = lr_encoder_open(dir, &set, &e);
    ck_assert_msg(enc != NULL, "%s", e.msg);
    float *q = malloc(2 * H * sizeof(float)), *p = malloc(2 * H * sizeof(float));
    const char *two[2] = {texts[N - 1], texts[N - 2]};
    ck_assert_int_eq(lr_encoder_encode(enc, false, two, 2, p, &e), 0);
    ck_assert_int_eq(lr_encoder_encode(enc, true, two, 2, q, &e), 0);
    double dp = 0, dq = 0;
    for (int k = 0; k < H; k++) {
        dp = fmax(dp, fabs(p[k] - a[(N - 1) * H + k]));
        dq = fmax(dq, fabs(q[k] - p[k]));
    }
    ck_assert_msg(dp <= 1e-6, "passage without prefix: max diff %g", dp);
    ck_assert_msg(dq > 1e-3, "query with prefix: max diff %g", dq);
    free(q);
    free(p);
    lr_encoder_free(enc);
    for (int i = 0; i < N; i++) free(texts[i]), free(ids[i].ids);
    free(ids);
    free(a);
    free(b);
}
END_TEST

/* Errors name what failed; nothing is left to free. */
START_TEST(test_encoder_errors)
{
    lr_error e;
    ck_assert_ptr_null(lr_encoder_open("/nonexistent/model", NULL, &e));
    ck_assert_msg(strstr(e.msg, "/nonexistent/model") != NULL, "%s", e.msg);
    char dir[512];
    if (!shared_path(dir, sizeof dir, "fixtures/tiny-llama")) return;
    /* no tokenizer: texts cannot be encoded */
    ck_assert_ptr_null(lr_encoder_open(dir, NULL, &e));
    ck_assert_msg(strstr(e.msg, "tokenizer") != NULL, "%s", e.msg);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("encoder");
    TCase *tc = tcase_create("encoder");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_embed_reference);
    tcase_add_test(tc, test_encode_texts);
    tcase_add_test(tc, test_encoder_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite_shared(suite()); }
