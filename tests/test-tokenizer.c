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

/* ---------------------------------------------------------------- small tokenizers */

/* A SentencePiece-style tokenizer: <unk> <s> </s>, byte tokens <0x00>..<0xFF>
 * at ids 3..258, then `pieces` (JSON strings) from id 259 on. */
static char *tiny_json(const char *pieces[], const char *merges, const char *normalizer,
                       const char *pretok, const char *added, const char *post, const char *model_extra)
{
    size_t cap = 1 << 16, n = 0;
    char *s = malloc(cap);
    n += (size_t)snprintf(s + n, cap - n,
                          "{\"version\":\"1.0\",\"added_tokens\":[%s],\"normalizer\":%s,\"pre_tokenizer\":%s,"
                          "\"post_processor\":%s,\"decoder\":{\"type\":\"Sequence\",\"decoders\":["
                          "{\"type\":\"Replace\",\"pattern\":{\"String\":\"\\u2581\"},\"content\":\" \"},"
                          "{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},"
                          "{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}]},"
                          "\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"fuse_unk\":true,%s"
                          "\"vocab\":{\"<unk>\":0,\"<s>\":1,\"</s>\":2",
                          added ? added : "", normalizer ? normalizer : "null", pretok ? pretok : "null",
                          post ? post : "null", model_extra ? model_extra : "\"byte_fallback\":true,");
    for (int b = 0; b < 256; b++) n += (size_t)snprintf(s + n, cap - n, ",\"<0x%02X>\":%d", b, 3 + b);
    for (int i = 0; pieces[i]; i++) n += (size_t)snprintf(s + n, cap - n, ",%s:%d", pieces[i], 259 + i);
    n += (size_t)snprintf(s + n, cap - n, "},\"merges\":[%s]}}", merges);
    ck_assert_uint_lt(n, cap);
    return s;
}

static lr_tokenizer *tiny(const char *pieces[], const char *merges, const char *normalizer, const char *pretok,
                          const char *added, const char *post, const char *config)
{
    char *j = tiny_json(pieces, merges, normalizer, pretok, added, post, NULL);
    lr_error e;
    lr_tokenizer *t = lr_tokenizer_load(j, strlen(j), config, config ? strlen(config) : 0, "tiny", &e);
    free(j);
    ck_assert_msg(t != NULL, "%s", e.msg);
    return t;
}

/* Encode and compare with expected ids (terminated by -9). */
static void expect_ids(const lr_tokenizer *t, const char *text, bool special, const int *want)
{
    lr_ids v = {0};
    lr_error e;
    ck_assert_msg(lr_tokenize(t, text, strlen(text), special, &v, &e) == 0, "%s", e.msg);
    size_t n = 0;
    while (want[n] != -9) n++;
    bool ok = v.n == n;
    for (size_t i = 0; ok && i < n; i++) ok = v.ids[i] == want[i];
    if (!ok) {
        fprintf(stderr, "text \"%s\":", text);
        for (size_t i = 0; i < v.n; i++) fprintf(stderr, " %d", v.ids[i]);
        fprintf(stderr, "\n");
    }
    ck_assert_msg(ok, "unexpected ids for \"%s\"", text);
    free(v.ids);
}

#define IDS(...) ((const int[]){__VA_ARGS__, -9})
#define NOIDS ((const int[]){-9})
#define SP_NORM "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"\\u2581\"}," \
                "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\\u2581\"}]}"

START_TEST(test_merge_order)
{
    /* Ids: a 259, b 260, c 261, ab 262, bc 263. */
    const char *pieces[] = {"\"a\"", "\"b\"", "\"c\"", "\"ab\"", "\"bc\"", "\"aa\"", NULL};
    lr_tokenizer *t = tiny(pieces, "\"b c\",\"a b\",\"a a\"", NULL, NULL, NULL, NULL, NULL);
    expect_ids(t, "abc", false, IDS(259, 263));       /* b c ranks first */
    expect_ids(t, "aaa", false, IDS(264, 259));       /* ties: leftmost first */
    expect_ids(t, "aaaa", false, IDS(264, 264));
    expect_ids(t, "", false, NOIDS);
    lr_tokenizer_free(t);
    t = tiny(pieces, "[\"a\",\"b\"],[\"b\",\"c\"]", NULL, NULL, NULL, NULL, NULL);
    expect_ids(t, "abc", false, IDS(262, 261));       /* a b ranks first */
    lr_tokenizer_free(t);
}
END_TEST

START_TEST(test_byte_fallback_and_unk)
{
    const char *pieces[] = {"\"\\u2581\"", "\"h\"", "\"i\"", "\"\\u2581h\"", "\"\\u2581hi\"", "\"\\u00e9\"", NULL};
    lr_tokenizer *t = tiny(pieces, "\"\\u2581 h\",\"\\u2581h i\"", SP_NORM, NULL, NULL, NULL, NULL);
    expect_ids(t, "hi", false, IDS(263));
    expect_ids(t, "hi hi", false, IDS(263, 263));
    /* é is a piece; ü (C3 BC) is not: its bytes. */
    expect_ids(t, "\xc3\xa9\xc3\xbc", false, IDS(259, 264, 3 + 0xC3, 3 + 0xBC));
    char *dec = lr_detokenize(t, (const int32_t[]){263, 263, 3 + 0xC3, 3 + 0xBC}, 4, false);
    ck_assert_str_eq(dec, "hi hi\xc3\xbc");
    free(dec);
    /* A run of byte tokens that is not UTF-8: one U+FFFD per byte. */
    dec = lr_detokenize(t, (const int32_t[]){263, 3 + 0xC3, 3 + 0xBC, 3 + 0xC3}, 4, false);
    ck_assert_str_eq(dec, "hi\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    free(dec);
    lr_tokenizer_free(t);
    /* Without byte fallback unknown characters become one (fused) <unk>. */
    char *j = tiny_json(pieces, "\"\\u2581 h\",\"\\u2581h i\"", SP_NORM, NULL, NULL, NULL, "");
    lr_error e;
    t = lr_tokenizer_load(j, strlen(j), NULL, 0, "tiny", &e);
    free(j);
    ck_assert_msg(t != NULL, "%s", e.msg);
    expect_ids(t, "hi\xc3\xbc\xc3\xbcxh", false, IDS(263, 0, 260));
    lr_tokenizer_free(t);
}
END_TEST

START_TEST(test_added_token_flags)
{
    const char *pieces[] = {"\"a\"", "\"b\"", "\" \"", "\"x\"", NULL};
    const char *added =
        "{\"id\":300,\"content\":\"<L>\",\"lstrip\":true,\"rstrip\":false,\"single_word\":false,\"normalized\":false,\"special\":true},"
        "{\"id\":301,\"content\":\"<R>\",\"lstrip\":false,\"rstrip\":true,\"single_word\":false,\"normalized\":false,\"special\":true},"
        "{\"id\":302,\"content\":\"ab\",\"lstrip\":false,\"rstrip\":false,\"single_word\":true,\"normalized\":false,\"special\":false},"
        "{\"id\":303,\"content\":\"<N>\",\"lstrip\":false,\"rstrip\":false,\"single_word\":false,\"normalized\":false,\"special\":true},"
        "{\"id\":304,\"content\":\"<N>x\",\"lstrip\":false,\"rstrip\":false,\"single_word\":false,\"normalized\":false,\"special\":true},"
        "{\"id\":305,\"content\":\"q\",\"lstrip\":false,\"rstrip\":false,\"single_word\":false,\"normalized\":true,\"special\":false}";
    const char *lower = "{\"type\":\"Lowercase\"}";
    lr_tokenizer *t = tiny(pieces, "", lower, NULL, added, NULL, NULL);
    expect_ids(t, "a <L>b", false, IDS(259, 300, 260));
    expect_ids(t, "a<R>  b", false, IDS(259, 301, 260));
    expect_ids(t, "a <N> b", false, IDS(259, 261, 303, 261, 260));
    expect_ids(t, "<N>x", false, IDS(304));                /* longest match */
    expect_ids(t, "ab x", false, IDS(302, 261, 262));
    expect_ids(t, "xab", false, IDS(262, 259, 260));      /* not a single word */
    expect_ids(t, "Q", false, IDS(305));                  /* matched after normalization */
    ck_assert_int_eq(lr_tokenizer_token_id(t, "<R>"), 301);
    ck_assert_int_eq(lr_tokenizer_token_id(t, "x"), 262);
    ck_assert_int_eq(lr_tokenizer_token_id(t, "nope"), -1);
    ck_assert_str_eq(lr_tokenizer_token(t, 300), "<L>");
    ck_assert_int_eq(lr_tokenizer_vocab_size(t), 306);
    char *dec = lr_detokenize(t, (const int32_t[]){259, 300, 260, 302}, 4, true);
    ck_assert_str_eq(dec, "abab");                        /* special <L> skipped, "ab" kept */
    free(dec);
    lr_tokenizer_free(t);
}
END_TEST

START_TEST(test_normalizers)
{
    const char *pieces[] = {"\"f\"", "\"i\"", "\"a\"", "\"b\"", "\"\\u00e9\"", "\"e\"", "\"\\u0301\"", NULL};
    lr_tokenizer *t = tiny(pieces, "", "{\"type\":\"NFKC\"}", NULL, NULL, NULL, NULL);
    expect_ids(t, "\xef\xac\x81", false, IDS(259, 260));         /* U+FB01 ligature -> f i */
    expect_ids(t, "e\xcc\x81", false, IDS(263));                  /* composed to U+00E9 */
    lr_tokenizer_free(t);
    t = tiny(pieces, "", "{\"type\":\"NFD\"}", NULL, NULL, NULL, NULL);
    expect_ids(t, "\xc3\xa9", false, IDS(264, 265));
    lr_tokenizer_free(t);
    t = tiny(pieces, "",
             "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":true},"
             "{\"type\":\"Lowercase\"},{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"b+\"},\"content\":\"a\"}]}",
             NULL, NULL, NULL, NULL);
    expect_ids(t, "  ABBB\xc3\x89  ", false, IDS(261, 261, 263));
    lr_tokenizer_free(t);
}
END_TEST

START_TEST(test_pretokenizers)
{
    const char *pieces[] = {"\"1\"", "\"2\"", "\"12\"", "\"a\"", "\"\\u2581\"", "\"\\u2581a\"", "\"a\\u2581\"", NULL};
    /* Digits one by one: the merge 1 2 cannot apply across pieces. */
    lr_tokenizer *t = tiny(pieces, "\"1 2\"", NULL, "{\"type\":\"Digits\",\"individual_digits\":true}", NULL, NULL, NULL);
    expect_ids(t, "a12", false, IDS(262, 259, 260));
    lr_tokenizer_free(t);
    t = tiny(pieces, "\"1 2\"", NULL, "{\"type\":\"Digits\",\"individual_digits\":false}", NULL, NULL, NULL);
    expect_ids(t, "a12", false, IDS(262, 261));
    lr_tokenizer_free(t);
    /* Metaspace: spaces become U+2581, split before each, prepended first. */
    t = tiny(pieces, "\"\\u2581 a\",\"a \\u2581\"", NULL,
             "{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"first\",\"split\":true}",
             NULL, NULL, NULL);
    expect_ids(t, "a a", false, IDS(264, 264));
    expect_ids(t, "a  a", false, IDS(264, 263, 264));
    lr_tokenizer_free(t);
    t = tiny(pieces, "\"\\u2581 a\",\"a \\u2581\"", NULL,
             "{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"never\",\"split\":false}",
             NULL, NULL, NULL);
    expect_ids(t, "a a", false, IDS(262, 264));   /* one word: "▁ a" ranks before "a ▁" */
    lr_tokenizer_free(t);
    /* Split with a regex, each behaviour. */
    const char *fmt = "{\"type\":\"Split\",\"pattern\":{\"String\":\"2\"},\"behavior\":\"%s\",\"invert\":false}";
    const struct { const char *b; const int *ids; } cases[] = {
        {"Removed", IDS(259, 259)},
        {"Isolated", IDS(259, 260, 259)},
        {"MergedWithPrevious", IDS(261, 259)},
        {"MergedWithNext", IDS(259, 260, 259)},
        {"Contiguous", IDS(259, 260, 259)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char pt[256];
        snprintf(pt, sizeof pt, fmt, cases[i].b);
        t = tiny(pieces, "\"1 2\"", NULL, pt, NULL, NULL, NULL);
        expect_ids(t, "121", false, cases[i].ids);
        lr_tokenizer_free(t);
    }
}
END_TEST

START_TEST(test_template)
{
    const char *pieces[] = {"\"a\"", NULL};
    const char *post =
        "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},"
        "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"</s>\",\"type_id\":0}}],"
        "\"pair\":[],\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[1],\"tokens\":[\"<s>\"]},"
        "\"</s>\":{\"id\":\"</s>\",\"ids\":[2],\"tokens\":[\"</s>\"]}}}";
    lr_tokenizer *t = tiny(pieces, "", NULL, NULL, NULL, post, NULL);
    expect_ids(t, "a", true, IDS(1, 259, 2));
    expect_ids(t, "a", false, IDS(259));
    expect_ids(t, "", true, IDS(1, 2));
    ck_assert_int_eq(lr_tokenizer_bos_id(t), 1);
    ck_assert_int_eq(lr_tokenizer_eos_id(t), 2);
    lr_tokenizer_free(t);
    /* tokenizer_config.json flags rebuild the template. */
    t = tiny(pieces, "", NULL, NULL, NULL, post,
             "{\"add_bos_token\":false,\"add_eos_token\":true,\"bos_token\":\"<s>\","
             "\"eos_token\":{\"content\":\"</s>\"},\"model_max_length\":1000000000000000019884624838656}");
    expect_ids(t, "a", true, IDS(259, 2));
    ck_assert_int_eq(lr_tokenizer_bos_id(t), 1);
    lr_tokenizer_free(t);
}
END_TEST

/* ---------------------------------------------------------------- bad input */

static void expect_load_error(const char *json, const char *needle)
{
    lr_error e;
    e.msg[0] = 0;
    lr_tokenizer *t = lr_tokenizer_load(json, strlen(json), NULL, 0, "bad.json", &e);
    ck_assert_msg(t == NULL, "loading should fail (%s)", needle);
    ck_assert_msg(strstr(e.msg, needle) != NULL, "message \"%s\" lacks \"%s\"", e.msg, needle);
    ck_assert_msg(strncmp(e.msg, "bad.json", 8) == 0, "message \"%s\" does not name the file", e.msg);
    ck_assert_msg(strchr(e.msg, '\n') == NULL, "message is not one line");
}

START_TEST(test_bad_tokenizer_json)
{
    const char *pieces[] = {"\"a\"", "\"b\"", NULL};
    char *good = tiny_json(pieces, "\"a b\"", NULL, NULL, NULL, NULL, NULL);
    /* Truncated anywhere: an error, never a crash. */
    size_t n = strlen(good);
    for (size_t cut = 0; cut < n; cut += 97) {
        char *s = strndup(good, cut);
        lr_error e;
        lr_tokenizer *t = lr_tokenizer_load(s, cut, NULL, 0, "cut.json", &e);
        ck_assert_msg(t == NULL, "truncated at %zu loads", cut);
        ck_assert_msg(strstr(e.msg, "malformed JSON") != NULL, "%s", e.msg);
        free(s);
    }
    free(good);
    expect_load_error("[1, 2]", "not a JSON object");
    expect_load_error("{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}}", "merge 0");
    expect_load_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a\"]}}", "merge 0");
    expect_load_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -3}, \"merges\": []}}", "vocab entry");
    expect_load_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}", "unsupported model type \"WordPiece\"");
    expect_load_error("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", "Unigram");
    expect_load_error("{}", "no \"model\"");
    const char *model = "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}";
    char buf[1024];
    /* an id too large is a range error, not a missing field */
    snprintf(buf, sizeof buf, "{\"added_tokens\": [{\"id\": 2000000000, \"content\": \"<x>\"}], %s}", model);
    expect_load_error(buf, "added token 0: id 2000000000 out of range");
    snprintf(buf, sizeof buf, "{\"added_tokens\": [{\"content\": \"<x>\"}], %s}", model);
    expect_load_error(buf, "added token 0 needs an \"id\" and a \"content\"");
    snprintf(buf, sizeof buf, "{\"normalizer\": {\"type\": \"BertNormalizer\"}, %s}", model);
    expect_load_error(buf, "unsupported normalizer type \"BertNormalizer\"");
    snprintf(buf, sizeof buf, "{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"CharDelimiterSplit\"}]}, %s}", model);
    expect_load_error(buf, "unsupported pre-tokenizer type \"CharDelimiterSplit\"");
    snprintf(buf, sizeof buf, "{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(a\"}, \"behavior\": \"Isolated\"}, %s}", model);
    expect_load_error(buf, "regex");
    snprintf(buf, sizeof buf, "{\"decoder\": {\"type\": \"WordPiece\"}, %s}", model);
    expect_load_error(buf, "unsupported decoder type \"WordPiece\"");
    snprintf(buf, sizeof buf, "{\"post_processor\": {\"type\": \"Fancy\"}, %s}", model);
    expect_load_error(buf, "unsupported post_processor type \"Fancy\"");
    lr_error e;
    ck_assert_ptr_null(lr_tokenizer_load_file("/nonexistent/tokenizer.json", &e));
    ck_assert_ptr_nonnull(strstr(e.msg, "/nonexistent/tokenizer.json"));
}
END_TEST

START_TEST(test_invalid_utf8)
{
    /* Each maximal invalid subsequence becomes U+FFFD (EF BF BD), which the
     * tiny tokenizer encodes as three byte tokens. */
    const char *pieces[] = {"\"a\"", NULL};
    lr_tokenizer *t = tiny(pieces, "", NULL, NULL, NULL, NULL, NULL);
#define FFFD 3 + 0xEF, 3 + 0xBF, 3 + 0xBD
    expect_ids(t, "a\xff" "a", false, IDS(259, FFFD, 259));
    expect_ids(t, "a\xe2\x82", false, IDS(259, FFFD));            /* truncated sequence: one */
    expect_ids(t, "\xc0\xaf", false, IDS(FFFD, FFFD));            /* overlong: two */
    expect_ids(t, "\xed\xa0\x80", false, IDS(FFFD, FFFD, FFFD));  /* surrogate: three */
    expect_ids(t, "\xf4\x90\x80\x80", false, IDS(FFFD, FFFD, FFFD, FFFD));
    expect_ids(t, "\xf0\x9f\x98", false, IDS(FFFD));
#undef FFFD
    lr_tokenizer_free(t);
    lr_tokenizer *q = load_shared("qwen3");
    if (!q) return;
    lr_ids v = {0};
    lr_error e;
    ck_assert_int_eq(lr_tokenize(q, "caf\xe9 ok", 7, false, &v, &e), 0);
    char *d = lr_detokenize(q, v.ids, v.n, false);
    ck_assert_str_eq(d, "caf\xef\xbf\xbd ok");
    free(d);
    free(v.ids);
    lr_tokenizer_free(q);
}
END_TEST

/* ---------------------------------------------------------------- shared tokenizers */

START_TEST(test_empty_and_specials)
{
    lr_tokenizer *q = load_shared("qwen3"), *m = load_shared("mistral");
    if (!q || !m) { lr_tokenizer_free(q); lr_tokenizer_free(m); return; }
    expect_ids(q, "", false, NOIDS);
    expect_ids(q, "", true, NOIDS);
    expect_ids(m, "", false, NOIDS);
    expect_ids(m, "", true, IDS(1));
    ck_assert_int_eq(lr_tokenizer_vocab_size(q), 151669);
    ck_assert_int_eq(lr_tokenizer_vocab_size(m), 32000);
    ck_assert_int_eq(lr_tokenizer_bos_id(m), 1);
    ck_assert_int_eq(lr_tokenizer_eos_id(m), 2);
    ck_assert_int_eq(lr_tokenizer_bos_id(q), -1);
    ck_assert_int_eq(lr_tokenizer_eos_id(q), 151645);     /* tokenizer_config.json: <|im_end|> */
    ck_assert_int_eq(lr_tokenizer_token_id(q, "<|endoftext|>"), 151643);
    ck_assert_int_eq(lr_tokenizer_token_id(q, "\xc4\xa0the"), 279);   /* "Ġthe" */
    ck_assert_str_eq(lr_tokenizer_token(q, 279), "\xc4\xa0the");
    char *d = lr_detokenize(q, (const int32_t[]){151644, 872, 198, 6023, 151645}, 5, false);
    ck_assert_str_eq(d, "<|im_start|>user\nhi<|im_end|>");
    free(d);
    d = lr_detokenize(q, (const int32_t[]){151644, 872, 198, 6023, 151645}, 5, true);
    ck_assert_str_eq(d, "user\nhi");
    free(d);
    lr_tokenizer_free(q);
    lr_tokenizer_free(m);
}
END_TEST

/* Decoding the golden ids gives the text back (for texts that are already
 * NFC and hold no special tokens). */
static void check_roundtrip(const char *name)
{
    golden g;
    lr_tokenizer *t = load_shared(name);
    if (!t || !load_golden(name, &g)) { lr_tokenizer_free(t); return; }
    size_t checked = 0;
    for (size_t i = 0; i < g.n; i++) {
        if (strchr(g.text[i], '<') || g.text[i][0] == ' ' || strstr(g.text[i], "\xcc\x81")) continue;
        char *d = lr_detokenize(t, g.ids[i].ids, g.ids[i].n, false);
        ck_assert_msg(strcmp(d, g.text[i]) == 0, "%s golden %zu: decoded \"%s\"", name, i, d);
        free(d);
        checked++;
    }
    ck_assert_uint_gt(checked, 300);
    free_golden(&g);
    lr_tokenizer_free(t);
}

START_TEST(test_decode_qwen3) { check_roundtrip("qwen3"); }
END_TEST

START_TEST(test_decode_mistral) { check_roundtrip("mistral"); }
END_TEST

/* Components the shared tokenizers do not use (ignore_merges, NFKD, the
 * Whitespace pre-tokenizer, Bert and Roberta post-processors, Metaspace
 * pre-tokenizer and decoder): tests/golden/tokenizer-variants.json makes
 * each a variant of a shared tokenizer.json (fields of "set" replaced, a
 * dotted key reaching into an object), and tests/golden/tokenizer-NAME.jsonl
 * holds transformers.js's ids, ids with special tokens and decoded text for
 * it (tests/golden/make-tokenizer-goldens.mjs made them; tokenizer.json
 * alone, without tokenizer_config.json). */
static void set_dotted(json_t *root, const char *key, json_t *value)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", key);
    json_t *o = root;
    char *k = buf, *dot;
    while ((dot = strchr(k, '.'))) {
        *dot = 0;
        o = json_object_get(o, k);
        ck_assert_msg(json_is_object(o), "%s: no object %s", key, k);
        k = dot + 1;
    }
    json_object_set(o, k, value);
}

static const char *const variant_names[] = {"qwen3-ignore-merges", "qwen3-nfkd", "qwen3-whitespace",
                                            "mistral-bert", "mistral-roberta", "mistral-metaspace",
                                            "mistral-metaspace-split"};

START_TEST(test_golden_variants)
{
    const char *name = variant_names[_i], *src = getenv("LR_SRCDIR");
    char path[4096], rel[256];
    if (!shared_dir()) return;
    ck_assert_msg(src != NULL, "LR_SRCDIR unset");
    snprintf(path, sizeof path, "%s/tests/golden/tokenizer-variants.json", src);
    json_error_t je;
    json_t *all = json_load_file(path, 0, &je);
    ck_assert_msg(all != NULL, "%s: %s", path, je.text);
    json_t *v = json_object_get(all, name);
    ck_assert_msg(v != NULL, "%s: no variant %s", path, name);
    const char *base = json_string_value(json_object_get(v, "base"));
    snprintf(rel, sizeof rel, "tokenizers/%s/tokenizer.json", base);
    json_t *tj = json_load_file(shared_path(path, sizeof path, rel), 0, &je);
    ck_assert_msg(tj != NULL, "%s: %s", path, je.text);
    const char *key;
    json_t *val;
    json_object_foreach(json_object_get(v, "set"), key, val) set_dotted(tj, key, val);
    char *text = json_dumps(tj, JSON_COMPACT);
    lr_error e;
    lr_tokenizer *t = lr_tokenizer_load(text, strlen(text), NULL, 0, name, &e);
    ck_assert_msg(t != NULL, "%s: %s", name, e.msg);

    snprintf(path, sizeof path, "%s/tests/golden/tokenizer-%s.jsonl", src, name);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s: cannot open", path);
    char *line = NULL;
    size_t cap = 0, n = 0, bad = 0;
    ssize_t l;
    lr_ids got = {0}, want = {0};
    while ((l = getline(&line, &cap, f)) > 0) {
        json_t *j = json_loadb(line, (size_t)l, JSON_ALLOW_NUL, &je);
        ck_assert_msg(j != NULL, "%s: line %zu: %s", path, n + 1, je.text);
        json_t *jt = json_object_get(j, "text");
        for (int sp = 0; sp < 2; sp++) {
            got.n = 0;
            ck_assert_msg(lr_tokenize(t, json_string_value(jt), json_string_length(jt), sp, &got, &e) == 0, "%s", e.msg);
            ids_from_json(json_object_get(j, sp ? "ids_special" : "ids"), &want);
            if (!ids_equal(&got, &want) && bad++ < 5) {
                fprintf(stderr, "%s line %zu (%s): %.80s\n", name, n + 1, sp ? "special" : "plain", json_string_value(jt));
                print_ids("want", &want);
                print_ids("got ", &got);
            }
            free(want.ids);
        }
        ids_from_json(json_object_get(j, "ids_special"), &want);
        char *d = lr_detokenize(t, want.ids, want.n, true);
        const char *wd = json_string_value(json_object_get(j, "decoded"));
        if (strcmp(d, wd) && bad++ < 5) fprintf(stderr, "%s line %zu: decoded \"%s\", want \"%s\"\n", name, n + 1, d, wd);
        free(d);
        free(want.ids);
        json_decref(j);
        n++;
    }
    ck_assert_uint_ge(n, 30);
    ck_assert_msg(bad == 0, "%s: %zu of %zu golden encodings or decodings differ", name, bad, 3 * n);
    free(got.ids);
    free(line);
    fclose(f);
    lr_tokenizer_free(t);
    free(text);
    json_decref(tj);
    json_decref(all);
}
END_TEST

START_TEST(test_fixture_tokenizer)
{
    /* The tiny-mistral fixture carries Mistral's tokenizer.json alone:
     * its own template adds <s>. */
    char buf[4096];
    if (!shared_path(buf, sizeof buf, "fixtures/tiny-mistral/tokenizer.json")) return;
    size_t n;
    lr_error e;
    char *s = lr_read_file(buf, &n, &e);
    ck_assert_ptr_nonnull(s);
    lr_tokenizer *t = lr_tokenizer_load(s, n, NULL, 0, buf, &e);
    free(s);
    ck_assert_msg(t != NULL, "%s", e.msg);
    expect_ids(t, "Hello world", true, IDS(1, 22557, 1526));
    lr_tokenizer_free(t);
}
END_TEST

START_TEST(test_from_checkpoint)
{
    const char *pieces[] = {"\"a\"", NULL};
    char *j = tiny_json(pieces, "", NULL, NULL, NULL, NULL, NULL);
    const char *cfg = "{\"add_bos_token\": true, \"bos_token\": \"<s>\"}";
    lr_file files[3] = {
        {"config.json", "{}", 2},
        {"tokenizer.json", j, strlen(j)},
        {"tokenizer_config.json", (char *)cfg, strlen(cfg)},
    };
    lr_checkpoint ck;
    memset(&ck, 0, sizeof ck);
    ck.source = "ck.tar";
    ck.files = files;
    ck.n_files = 3;
    lr_error e;
    lr_tokenizer *t = lr_tokenizer_from_checkpoint(&ck, &e);
    ck_assert_msg(t != NULL, "%s", e.msg);
    expect_ids(t, "a", true, IDS(1, 259));
    lr_tokenizer_free(t);
    ck.n_files = 1;
    ck_assert_ptr_null(lr_tokenizer_from_checkpoint(&ck, &e));
    ck_assert_ptr_nonnull(strstr(e.msg, "ck.tar"));
    ck_assert_ptr_nonnull(strstr(e.msg, "tokenizer.json"));
    free(j);
}
END_TEST

/* A 1 MB text: words, digits, punctuation, non-ASCII, long runs. */
static char *big_text(size_t *len)
{
    static const char *words[] = {"retrieval", "dense", " ", "  ", "\n", "42", "3.14", "caf\xc3\xa9",
                                  "\xe6\x97\xa5\xe6\x9c\xac", "(p<0.05)", "\xf0\x9f\x98\x80", "IL-6", "\t", "x"};
    size_t cap = (1 << 20) + 64, n = 0;
    char *s = malloc(cap);
    unsigned r = 12345;
    s[n++] = 'A';
    while (n < (1 << 20)) {
        r = r * 1103515245 + 12345;
        const char *w = words[(r >> 16) % (sizeof words / sizeof words[0])];
        size_t l = strlen(w);
        memcpy(s + n, w, l);
        n += l;
        s[n++] = ' ';
    }
    s[n] = 0;
    *len = n;
    return s;
}

static void check_big(const lr_tokenizer *t, const char *s, size_t n)
{
    lr_ids v = {0};
    lr_error e;
    ck_assert_msg(lr_tokenize(t, s, n, false, &v, &e) == 0, "%s", e.msg);
    ck_assert_uint_gt(v.n, 0);
    char *d = lr_detokenize(t, v.ids, v.n, false);
    ck_assert_msg(strlen(d) == n && memcmp(d, s, n) == 0, "1 MB text does not decode back");
    free(d);
    free(v.ids);
}

START_TEST(test_megabyte)
{
    lr_tokenizer *q = load_shared("qwen3"), *m = load_shared("mistral");
    if (!q || !m) { lr_tokenizer_free(q); lr_tokenizer_free(m); return; }
    size_t n;
    char *s = big_text(&n);
    check_big(q, s, n);
    check_big(m, s, n);
    /* Long runs (128 KB): one word, spaces, digits, newlines. */
    const char fill[] = {'a', ' ', '7', '\n'};
    n = 128 << 10;
    for (size_t k = 0; k < sizeof fill; k++) {
        memset(s + 1, fill[k], n - 1);
        check_big(q, s, n);
        check_big(m, s, n);
    }
    free(s);
    lr_tokenizer_free(q);
    lr_tokenizer_free(m);
}
END_TEST

/* Several threads tokenizing with one tokenizer. */
typedef struct { const lr_tokenizer *t; const golden *g; size_t bad; } thread_arg;

static void *thread_main(void *p)
{
    thread_arg *a = p;
    lr_ids v = {0};
    lr_error e;
    for (int rep = 0; rep < 3; rep++)
        for (size_t i = 0; i < a->g->n; i++) {
            v.n = 0;
            if (lr_tokenize(a->t, a->g->text[i], a->g->len[i], true, &v, &e) || !ids_equal(&v, &a->g->ids_special[i]))
                a->bad++;
        }
    free(v.ids);
    return NULL;
}

START_TEST(test_threads)
{
    golden g;
    lr_tokenizer *t = load_shared("qwen3");
    if (!t || !load_golden("qwen3", &g)) { lr_tokenizer_free(t); return; }
    pthread_t th[4];
    thread_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (thread_arg){t, &g, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, thread_main, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_uint_eq(a[i].bad, 0);
    }
    free_golden(&g);
    lr_tokenizer_free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("components");
    tcase_add_test(tc, test_merge_order);
    tcase_add_test(tc, test_byte_fallback_and_unk);
    tcase_add_test(tc, test_added_token_flags);
    tcase_add_test(tc, test_normalizers);
    tcase_add_test(tc, test_pretokenizers);
    tcase_add_test(tc, test_template);
    tcase_add_test(tc, test_bad_tokenizer_json);
    tcase_add_test(tc, test_invalid_utf8);
    tcase_add_test(tc, test_from_checkpoint);
    suite_add_tcase(s, tc);
    tc = tcase_create("shared");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_golden_qwen3);
    tcase_add_test(tc, test_golden_mistral);
    tcase_add_test(tc, test_empty_and_specials);
    tcase_add_test(tc, test_decode_qwen3);
    tcase_add_test(tc, test_decode_mistral);
    tcase_add_test(tc, test_fixture_tokenizer);
    tcase_add_loop_test(tc, test_golden_variants, 0, (int)(sizeof variant_names / sizeof variant_names[0]));
    tcase_add_test(tc, test_megabyte);
    tcase_add_test(tc, test_threads);
    suite_add_tcase(s, tc);
    return run_suite_shared(s);
}
