/* test-tokenizer.c - tokenizer.json: golden ids from a reference
 * implementation, components on small hand-checked tokenizers, bad input. */
#include "config.h"
#include "check-util.h"
#include "lr.h"

#include <jansson.h>
#include <pthread.h>

/* ---------------------------------------------------------------- helpers */

static lr_tokenizer *load_shared(const char *name)
{
    char rel[256], buf[4096];
    snprintf(rel, sizeof rel, "tokenizers/%s/tokenizer.json", name);
    if (!shared_path(buf, sizeof buf, rel)) return NULL;
    lr_error e;
    lr_tokenizer *t = lr_tokenizer_load_file(buf, &e);
    if (!t) ck_abort_msg("%s", e.msg);
    return t;
}

typedef struct golden {
    char **text;
    size_t *len;
    lr_ids *ids, *ids_special;
    size_t n;
} golden;

static void ids_from_json(json_t *a, lr_ids *v)
{
    size_t i;
    json_t *x;
    memset(v, 0, sizeof *v);
    json_array_foreach(a, i, x) lr_ids_push(v, (int32_t)json_integer_value(x));
}

static bool load_golden(const char *name, golden *g)
{
    char rel[256], buf[4096];
    memset(g, 0, sizeof *g);
    snprintf(rel, sizeof rel, "tokenizers/%s/golden.jsonl", name);
    if (!shared_path(buf, sizeof buf, rel)) return false;
    FILE *f = fopen(buf, "r");
    ck_assert_ptr_nonnull(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t l;
    while ((l = getline(&line, &cap, f)) > 0) {
        json_error_t je;
        json_t *j = json_loadb(line, (size_t)l, JSON_ALLOW_NUL, &je);
        ck_assert_msg(j != NULL, "golden line %zu: %s", g->n + 1, je.text);
        g->text = realloc(g->text, (g->n + 1) * sizeof *g->text);
        g->len = realloc(g->len, (g->n + 1) * sizeof *g->len);
        g->ids = realloc(g->ids, (g->n + 1) * sizeof *g->ids);
        g->ids_special = realloc(g->ids_special, (g->n + 1) * sizeof *g->ids_special);
        json_t *t = json_object_get(j, "text");
        g->len[g->n] = json_string_length(t);
        g->text[g->n] = malloc(g->len[g->n] + 1);
        memcpy(g->text[g->n], json_string_value(t), g->len[g->n] + 1);
        ids_from_json(json_object_get(j, "ids"), &g->ids[g->n]);
        ids_from_json(json_object_get(j, "ids_special"), &g->ids_special[g->n]);
        g->n++;
        json_decref(j);
    }
    free(line);
    fclose(f);
    return true;
}

static void free_golden(golden *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->text[i]);
        free(g->ids[i].ids);
        free(g->ids_special[i].ids);
    }
    free(g->text);
    free(g->len);
    free(g->ids);
    free(g->ids_special);
}

static bool ids_equal(const lr_ids *a, const lr_ids *b)
{
    return a->n == b->n && (a->n == 0 || !memcmp(a->ids, b->ids, a->n * sizeof *a->ids));
}

static void print_ids(const char *label, const lr_ids *v)
{
    fprintf(stderr, "  %s:", label);
    for (size_t i = 0; i < v->n && i < 40; i++) fprintf(stderr, " %d", v->ids[i]);
    fprintf(stderr, v->n > 40 ? " ... (%zu)\n" : "\n", v->n);
}

/* Number of golden texts whose ids differ (printing the first few). */
static size_t golden_mismatches(const lr_tokenizer *t, const golden *g, const char *name)
{
    size_t bad = 0;
    lr_ids v = {0};
    lr_error e;
    for (size_t i = 0; i < g->n; i++)
        for (int sp = 0; sp < 2; sp++) {
            v.n = 0;
            ck_assert_msg(lr_tokenize(t, g->text[i], g->len[i], sp, &v, &e) == 0, "%s", e.msg);
            const lr_ids *want = sp ? &g->ids_special[i] : &g->ids[i];
            if (!ids_equal(&v, want)) {
                if (bad++ < 5) {
                    fprintf(stderr, "%s golden %zu (%s): %.80s\n", name, i, sp ? "special" : "plain", g->text[i]);
                    print_ids("want", want);
                    print_ids("got ", &v);
                }
            }
        }
    free(v.ids);
    return bad;
}

static void check_golden(const char *name)
{
    golden g;
    lr_tokenizer *t = load_shared(name);
    if (!t || !load_golden(name, &g)) { lr_tokenizer_free(t); return; }
    ck_assert_uint_ge(g.n, 397);
    size_t bad = golden_mismatches(t, &g, name);
    ck_assert_msg(bad == 0, "%s: %zu of %zu golden encodings differ", name, bad, 2 * g.n);
    free_golden(&g);
    lr_tokenizer_free(t);
}

START_TEST(test_golden_qwen3) { check_golden("qwen3"); }
END_TEST

START_TEST(test_golden_mistral) { check_golden("mistral"); }
END_TEST

int main(void)
{
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("golden");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_golden_qwen3);
    tcase_add_test(tc, test_golden_mistral);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
