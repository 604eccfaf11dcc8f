/* test-checkpoint.c - loading from directories, tars and stdin; config,
 * layout, digest, dtype conversion, surgery and write-then-read. */
#include "config.h"
#include "check-util.h"
#include "lr.h"
#include "internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <unistd.h>

static const char *fixtures[] = {"tiny-llama", "tiny-llama-cut", "tiny-mistral", "tiny-qwen2",
                                 "tiny-qwen3", "tiny-llama3rope", "aidreams260K"};

static char tmpdir[256];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/lr-ckpt.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *de;
    char p[512];
    while (d && (de = readdir(d)))
        if (de->d_name[0] != '.') snprintf(p, sizeof p, "%s/%s", tmpdir, de->d_name), unlink(p);
    if (d) closedir(d);
    rmdir(tmpdir);
}

/* Tar the regular files of dir into out, each named prefix + name. */
static void make_tar(const char *dir, const char *out, const char *prefix)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    ck_assert_int_eq(archive_write_open_filename(a, out), ARCHIVE_OK);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char path[512], name[512];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        snprintf(name, sizeof name, "%s%s", prefix, de->d_name);
        size_t n;
        char *buf = lr_read_file(path, &n, NULL);
        ck_assert_ptr_nonnull(buf);
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)n);
        ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
        ck_assert_int_eq(archive_write_data(a, buf, n), (la_ssize_t)n);
        archive_entry_free(e);
        free(buf);
    }
    closedir(d);
    archive_write_close(a);
    archive_write_free(a);
}

static lr_checkpoint *load_ok(const char *path)
{
    lr_error e = {{0}};
    lr_checkpoint *ck = lr_checkpoint_load(path, &e);
    if (!ck) ck_abort_msg("load %s: %s", path, e.msg);
    return ck;
}

/* Same tensors (names, dtypes, shapes, bytes); same files when `files`. */
static void assert_same(lr_checkpoint *a, lr_checkpoint *b, bool files)
{
    ck_assert_uint_eq(a->n_tensors, b->n_tensors);
    for (size_t i = 0; i < a->n_tensors; i++) {
        const lr_tensor *x = &a->tensors[i], *y = lr_checkpoint_tensor(b, x->name);
        ck_assert_msg(y != NULL, "%s missing", x->name);
        ck_assert_int_eq(x->dtype, y->dtype);
        ck_assert_int_eq(x->ndim, y->ndim);
        for (int k = 0; k < 4; k++) ck_assert_int_eq(x->shape[k], y->shape[k]);
        ck_assert_uint_eq(x->nbytes, y->nbytes);
        ck_assert_msg(memcmp(x->data, y->data, x->nbytes) == 0, "%s differs", x->name);
    }
    for (int l = 0; l < a->cfg.n_layers; l++) {
        ck_assert_int_eq(a->layers[l].attn, b->layers[l].attn);
        ck_assert_int_eq(a->layers[l].mlp, b->layers[l].mlp);
    }
    if (files) {
        for (size_t i = 0; i < a->n_files; i++) {
            const lr_file *f = lr_checkpoint_file(b, a->files[i].name);
            ck_assert_msg(f != NULL, "file %s missing", a->files[i].name);
            ck_assert_uint_eq(f->size, a->files[i].size);
            ck_assert(memcmp(f->data, a->files[i].data, f->size) == 0);
        }
        ck_assert_uint_eq(a->n_files, b->n_files);
    }
    ck_assert_str_eq(lr_checkpoint_digest(a), lr_checkpoint_digest(b));
}

/* Digests recorded before the hash moved to libxxhash: lr.json histories
 * name models by these, so the bytes hashed and the hash must not change. */
static const struct {
    const char *fixture, *digest;
} known_digests[] = {
    {"tiny-llama", "ac03ff2e1d6132a9"},
    {"tiny-qwen3", "6c27f853f6cd37fa"},
    {"tiny-mistral", "3250db1599b7964f"},
    {"aidreams260K", "6d2922ba61617c11"},
};

START_TEST(test_known_digests)
{
    char dir[512];
    if (!shared_path(dir, sizeof dir, "fixtures")) return;
    snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "/%s", known_digests[_i].fixture);
    lr_error err;
    lr_checkpoint *ck = lr_checkpoint_load(dir, &err);
    ck_assert_msg(ck != NULL, "%s", err.msg);
    ck_assert_str_eq(lr_checkpoint_digest(ck), known_digests[_i].digest);
    lr_checkpoint_free(ck);
}
END_TEST

START_TEST(test_fixture_dir_tar_roundtrip)
{
    char dir[512], tar[512], out[512];
    if (!shared_path(dir, sizeof dir, "fixtures")) return;
    snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "/%s", fixtures[_i]);
    lr_checkpoint *d = load_ok(dir);
    ck_assert_int_eq(lr_checkpoint_validate(d, NULL), 0);
    ck_assert_ptr_nonnull(lr_checkpoint_file(d, "config.json"));
    ck_assert_ptr_null(lr_checkpoint_file(d, "model.safetensors"));
    ck_assert_str_eq(d->files[0].name, "config.json");

    /* Members named ./x, top/x and x all read the same. */
    static const char *prefixes[] = {"", "./", "some-model/"};
    for (size_t p = 0; p < 3; p++) {
        snprintf(tar, sizeof tar, "%s/in%zu.tar", tmpdir, p);
        make_tar(dir, tar, prefixes[p]);
        lr_checkpoint *t = load_ok(tar);
        assert_same(d, t, true);
        lr_checkpoint_free(t);
    }

    /* Write, read back: bit-identical tensors, dtypes, files, layout. */
    snprintf(out, sizeof out, "%s/out.tar", tmpdir);
    lr_error e;
    if (lr_checkpoint_save(d, out, &e)) ck_abort_msg("save: %s", e.msg);
    lr_checkpoint *r = load_ok(out);
    assert_same(d, r, true);
    ck_assert_ptr_nonnull(r->lr_json);
    ck_assert_int_eq(json_array_size(json_object_get(r->lr_json, "layers")), d->cfg.n_layers);
    lr_checkpoint_free(r);
    lr_checkpoint_free(d);
}
END_TEST

/* Whether this process maps a file whose path ends in `suffix`. */
static bool maps_file(const char *suffix)
{
    FILE *f = fopen("/proc/self/maps", "r");
    ck_assert_ptr_nonnull(f);
    char line[4096];
    bool found = false;
    size_t n = strlen(suffix);
    while (!found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        size_t l = strlen(line);
        found = l >= n && !strcmp(line + l - n, suffix);
    }
    fclose(f);
    return found;
}

/* A trainer's checkpoint between saves: every tensor's data dropped (the
 * mapped weight file goes with the last one), a write refused, then the
 * data set again: the same digest, written and read back. */
START_TEST(test_drop_data)
{
    char dir[512], out[512];
    if (!shared_path(dir, sizeof dir, "fixtures")) return;
    snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "/tiny-llama");
    lr_checkpoint *ck = load_ok(dir);
    char digest[17];
    snprintf(digest, sizeof digest, "%s", lr_checkpoint_digest(ck));
    ck_assert(maps_file("/tiny-llama/model.safetensors"));
    size_t n = ck->n_tensors;
    void **copy = calloc(n, sizeof *copy);
    char **name = calloc(n, sizeof *name);
    for (size_t i = 0; i < n; i++) {
        copy[i] = malloc(ck->tensors[i].nbytes);
        memcpy(copy[i], ck->tensors[i].data, ck->tensors[i].nbytes);
        name[i] = strdup(ck->tensors[i].name);
    }
    for (size_t i = 0; i < n; i++) {
        ck_assert(maps_file("/tiny-llama/model.safetensors"));
        lr_checkpoint_drop_data(ck, name[i]);
        ck_assert_ptr_null(lr_checkpoint_tensor(ck, name[i])->data);
    }
    ck_assert(!maps_file("/tiny-llama/model.safetensors"));
    snprintf(out, sizeof out, "%s/out.tar", tmpdir);
    lr_error e = {{0}};
    ck_assert_int_eq(lr_checkpoint_save(ck, out, &e), -1);
    ck_assert_msg(strstr(e.msg, "was dropped"), "%s", e.msg);
    ck_assert_int_eq(access(out, F_OK), -1);
    for (size_t i = 0; i < n; i++) {
        const lr_tensor *t = lr_checkpoint_tensor(ck, name[i]);
        int64_t shape[4];   /* set_tensor rewrites t->shape */
        memcpy(shape, t->shape, sizeof shape);
        lr_checkpoint_set_tensor(ck, name[i], t->dtype, t->ndim, shape, copy[i]);
        free(name[i]);
    }
    free(copy), free(name);
    ck_assert_str_eq(lr_checkpoint_digest(ck), digest);
    if (lr_checkpoint_save(ck, out, &e)) ck_abort_msg("save: %s", e.msg);
    lr_checkpoint *r = load_ok(out);
    ck_assert_str_eq(lr_checkpoint_digest(r), digest);
    lr_checkpoint_free(r);
    lr_checkpoint_free(ck);
}
END_TEST

START_TEST(test_stdin)
{
    char dir[512], tar[512];
    if (!shared_path(dir, sizeof dir, "fixtures/tiny-qwen2")) return;
    snprintf(tar, sizeof tar, "%s/in.tar", tmpdir);
    make_tar(dir, tar, "./");
    int fd = open(tar, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    dup2(fd, 0);
    close(fd);
    lr_checkpoint *s = load_ok(NULL), *d = load_ok(dir);
    ck_assert_str_eq(s->source, "stdin");
    assert_same(d, s, true);
    lr_checkpoint_free(s);
    lr_checkpoint_free(d);
}
END_TEST

/* Config values, checked against the fixtures' config.json by hand. */
START_TEST(test_configs)
{
    char dir[512];
    if (!shared_path(dir, sizeof dir, "fixtures/tiny-qwen3")) return;
    lr_checkpoint *ck = load_ok(dir);
    const lr_config *c = &ck->cfg;
    ck_assert_str_eq(c->model_type, "qwen3");
    ck_assert_int_eq(c->hidden, 64);
    ck_assert_int_eq(c->head_dim, 32);
    ck_assert_int_eq(c->n_heads, 4);
    ck_assert_int_eq(c->n_kv_heads, 2);
    ck_assert(c->qk_norm && !c->attn_bias && c->tie_embeddings);
    ck_assert_double_eq(c->rope_theta, 1e6);
    ck_assert_double_eq(c->rms_eps, 1e-6);
    ck_assert_int_eq(lr_checkpoint_layer_tensor(ck, 0, "self_attn.q_proj.weight")->dtype, LR_BF16);
    ck_assert_int_eq(lr_checkpoint_layer_tensor(ck, 0, "self_attn.q_proj.weight")->shape[0], 128);
    ck_assert_ptr_null(lr_checkpoint_tensor(ck, "lm_head.weight"));
    lr_checkpoint_free(ck);

    shared_path(dir, sizeof dir, "fixtures/tiny-qwen2");
    ck = load_ok(dir);
    ck_assert(ck->cfg.attn_bias && !ck->cfg.qk_norm && ck->cfg.tie_embeddings);
    ck_assert_ptr_nonnull(lr_checkpoint_layer_tensor(ck, 2, "self_attn.v_proj.bias"));
    lr_checkpoint_free(ck);

    shared_path(dir, sizeof dir, "fixtures/tiny-mistral");
    ck = load_ok(dir);
    ck_assert_int_eq(ck->cfg.sliding_window, 4096);
    ck_assert_int_eq(ck->cfg.vocab, 32000);
    ck_assert_int_eq(ck->cfg.bos_id, 1);
    ck_assert_int_eq(ck->cfg.eos_id, 2);
    ck_assert_ptr_nonnull(lr_checkpoint_file(ck, "tokenizer.json"));
    ck_assert_uint_eq(lr_checkpoint_file(ck, "tokenizer.json")->size, 1795303);
    lr_checkpoint_free(ck);

    shared_path(dir, sizeof dir, "fixtures/tiny-llama3rope");
    ck = load_ok(dir);
    c = &ck->cfg;
    ck_assert_int_eq(c->rope_type, LR_ROPE_LLAMA3);
    ck_assert_double_eq(c->rope_factor, 8.0);
    ck_assert_double_eq(c->rope_low_freq_factor, 1.0);
    ck_assert_double_eq(c->rope_high_freq_factor, 4.0);
    ck_assert_int_eq(c->rope_original_max_pos, 64);
    ck_assert_int_eq(c->n_kv_heads, 1);
    ck_assert(!c->tie_embeddings);
    lr_checkpoint_free(ck);

    shared_path(dir, sizeof dir, "fixtures/tiny-llama-cut");
    ck = load_ok(dir);
    ck_assert(ck->layers[0].attn && ck->layers[0].mlp == 96);
    ck_assert(ck->layers[1].attn && ck->layers[1].mlp == 0);
    ck_assert(!ck->layers[2].attn && ck->layers[2].mlp == 160);
    ck_assert(ck->layers[3].attn && ck->layers[3].mlp == 160);
    ck_assert_ptr_nonnull(json_object_get(ck->lr_json, "kept_channels"));
    ck_assert_ptr_null(lr_checkpoint_layer_tensor(ck, 2, "input_layernorm.weight"));
    lr_checkpoint_free(ck);
}
END_TEST

/* eos_token_id as a list, defaults, unsupported types. */
START_TEST(test_config_variants)
{
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", tmpdir);
    struct { const char *json; const char *err; } cases[] = {
        {"{\"model_type\":\"gpt2\"}", "unsupported model_type \"gpt2\""},
        {"{\"model_type\":\"llama\",\"hidden_size\":64}", "missing \"num_hidden_layers\""},
        {"{\"model_type\":\"llama\",", "malformed JSON"},
        /* a real too large for any integer: a range error, not a conversion */
        {"{\"model_type\":\"llama\",\"hidden_size\":64,\"num_hidden_layers\":1e300}",
         "\"num_hidden_layers\" = 1e+300 out of range"},
        {"{\"model_type\":\"llama\",\"hidden_size\":64,\"num_hidden_layers\":-2.0}",
         "\"num_hidden_layers\" = -2 out of range"},
        {"{\"model_type\":\"llama\",\"hidden_size\":64,\"num_hidden_layers\":2.5}",
         "\"num_hidden_layers\" is not an integer"},
        {"{\"model_type\":\"llama\",\"hidden_size\":100,\"num_hidden_layers\":2,\"num_attention_heads\":3,"
         "\"intermediate_size\":8,\"vocab_size\":8}",
         "hidden_size 100 is not a multiple of num_attention_heads 3 and no \"head_dim\" is given"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        FILE *f = fopen(path, "w");
        fputs(cases[i].json, f);
        fclose(f);
        lr_error e = {{0}};
        ck_assert_ptr_null(lr_checkpoint_load(tmpdir, &e));
        ck_assert_msg(strstr(e.msg, cases[i].err) && strstr(e.msg, "config.json"), "%s", e.msg);
    }
}
END_TEST

/* eos_token_id as a list (first taken), defaults for absent keys. */
START_TEST(test_config_defaults)
{
    char st[512], path[512];
    if (!shared_path(st, sizeof st, "fixtures/tiny-llama/model.safetensors")) return;
    snprintf(path, sizeof path, "%s/model.safetensors", tmpdir);
    ck_assert_int_eq(symlink(st, path), 0);
    snprintf(path, sizeof path, "%s/config.json", tmpdir);
    FILE *f = fopen(path, "w");
    fputs("{\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 160,"
          " \"num_hidden_layers\": 4, \"num_attention_heads\": 4, \"num_key_value_heads\": 2,"
          " \"vocab_size\": 512, \"eos_token_id\": [7, 8], \"rope_scaling\": null}", f);
    fclose(f);
    lr_checkpoint *ck = load_ok(tmpdir);
    ck_assert_int_eq(ck->cfg.eos_id, 7);
    ck_assert_int_eq(ck->cfg.bos_id, -1);
    ck_assert(!ck->cfg.tie_embeddings && !ck->cfg.attn_bias && !ck->cfg.qk_norm);
    ck_assert_int_eq(ck->cfg.head_dim, 16);
    ck_assert_int_eq(ck->cfg.sliding_window, 0);
    ck_assert_int_eq(ck->cfg.rope_type, LR_ROPE_DEFAULT);
    ck_assert_double_eq(ck->cfg.rope_theta, 10000.0);
    lr_checkpoint_free(ck);
}
END_TEST

START_TEST(test_dtypes)
{
    /* bf16: 1.0 = 0x3f80, -2.5 = 0xc020; f16: 1.0 = 0x3c00, 65504 = 0x7bff,
     * smallest subnormal 2^-24 = 0x0001, -0 = 0x8000, inf = 0x7c00. */
    uint16_t bf[] = {0x3f80, 0xc020, 0x7f80};
    uint16_t hf[] = {0x3c00, 0x7bff, 0x0001, 0x8000, 0x7c00, 0x3555};
    float f[8];
    lr_to_f32(LR_BF16, bf, f, 3);
    ck_assert(f[0] == 1.0f && f[1] == -2.5f && isinf(f[2]));
    lr_to_f32(LR_F16, hf, f, 6);
    ck_assert(f[0] == 1.0f && f[1] == 65504.0f && f[2] == 0x1p-24f && f[3] == 0 && signbit(f[3]) && isinf(f[4]));
    ck_assert(f[5] == 0x1.554p-2f);
    /* Rounding to nearest even: 1 + 2^-8 is a tie in bf16 (stays 1.0),
     * 1 + 3*2^-9 rounds up to 1 + 2^-7. */
    float in[] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-9f, NAN};
    uint16_t out[3];
    lr_from_f32(LR_BF16, in, out, 3);
    ck_assert_uint_eq(out[0], 0x3f80);
    ck_assert_uint_eq(out[1], 0x3f81);
    ck_assert((out[2] & 0x7f80) == 0x7f80 && (out[2] & 0x7f));
    /* f16: 1 + 2^-11 is a tie (stays 1.0); 65520 overflows to inf; the
     * long path (17 values) and the tail agree. */
    float h[17];
    for (int i = 0; i < 17; i++) h[i] = (i & 1) ? 1.0f + 0x1p-11f : 65520.0f;
    uint16_t ho[17];
    lr_from_f32(LR_F16, h, ho, 17);
    for (int i = 0; i < 17; i++) ck_assert_uint_eq(ho[i], (i & 1) ? 0x3c00 : 0x7c00);
    ck_assert_uint_eq(lr_dtype_size(LR_BF16), 2);
    ck_assert_str_eq(lr_dtype_name(LR_F16), "F16");
}
END_TEST

/* Value of the half with bits h (finite, positive), from its definition. */
static double half_value(unsigned h)
{
    unsigned e = h >> 10, m = h & 0x3ff;
    return e ? ldexp(1024 + m, (int)e - 25) : ldexp(m, -24);
}

/* float -> f16 rounds to nearest even over every pair of neighbouring
 * halves, on both paths: the F16C one (aligned destination) and the
 * portable one (odd destination address). */
START_TEST(test_f16_rounding_exhaustive)
{
    enum { N = 0x7c00 * 4 };
    float *in = malloc(2 * N * sizeof *in);
    uint16_t *want = malloc(2 * N * sizeof *want);
    size_t n = 0;
    for (unsigned h = 0; h < 0x7c00; h++) {
        double lo = half_value(h), hi = h + 1 < 0x7c00 ? half_value(h + 1) : 65536.0;
        float mid = (float)((lo + hi) / 2);   /* exact: at most 12 significant bits */
        unsigned up = h + 1 < 0x7c00 ? h + 1 : 0x7c00;
        float x[4] = {(float)lo, nextafterf(mid, 0), mid, nextafterf(mid, INFINITY)};
        uint16_t w[4] = {(uint16_t)h, (uint16_t)h, (uint16_t)((h & 1) ? up : h), (uint16_t)up};
        for (int k = 0; k < 4; k++) {
            in[n] = x[k], want[n++] = w[k];
            in[n] = -x[k], want[n++] = w[k] | 0x8000;
        }
    }
    unsigned char *buf = malloc(2 * n + 2);
    uint16_t got;
    for (int odd = 0; odd < 2; odd++) {
        lr_from_f32(LR_F16, in, buf + odd, n);
        for (size_t i = 0; i < n; i++) {
            memcpy(&got, buf + odd + 2 * i, 2);
            ck_assert_msg(got == want[i], "%s path: %a -> 0x%04x, expected 0x%04x", odd ? "portable" : "F16C",
                          in[i], got, want[i]);
        }
    }
    float nan_in[9] = {NAN, -NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 0x1p-26f, 0x1.8p-25f, 0x1p-25f};
    uint16_t nan_want[9] = {0, 0, 0x7c00, 0xfc00, 0x7c00, 0xfc00, 0, 0x0001, 0};
    for (int odd = 0; odd < 2; odd++) {
        lr_from_f32(LR_F16, nan_in, buf + odd, 9);
        for (int i = 0; i < 9; i++) {
            memcpy(&got, buf + odd + 2 * i, 2);
            if (i < 2) ck_assert_msg((got & 0x7e00) == 0x7e00 && (got & 0x8000) == (i ? 0x8000 : 0), "NaN 0x%04x", got);
            else ck_assert_msg(got == nan_want[i], "%a -> 0x%04x", nan_in[i], got);
        }
    }
    free(buf);
    free(in);
    free(want);
}
END_TEST

/* Dropping layer 1's MLP and layer 2's attention from tiny-llama gives
 * tiny-llama-cut's tensors, but for layer 0's MLP (narrowed there). */
START_TEST(test_drop_sublayers)
{
    char dir[512], cut[512], out[512];
    if (!shared_path(dir, sizeof dir, "fixtures/tiny-llama")) return;
    shared_path(cut, sizeof cut, "fixtures/tiny-llama-cut");
    lr_checkpoint *ck = load_ok(dir), *ref = load_ok(cut);
    char loaded[17];
    memcpy(loaded, lr_checkpoint_digest(ck), 17);
    bool da[4] = {0, 0, 1, 0}, dm[4] = {0, 1, 0, 0};
    lr_error e;
    ck_assert_int_eq(lr_drop_sublayers(ck, da, dm, &e), 0);
    ck_assert_str_ne(lr_checkpoint_digest(ck), loaded);
    ck_assert_int_eq(lr_checkpoint_validate(ck, &e), 0);
    ck_assert_uint_eq(ck->n_tensors, ref->n_tensors);
    for (size_t i = 0; i < ref->n_tensors; i++) {
        const lr_tensor *r = &ref->tensors[i], *t = lr_checkpoint_tensor(ck, r->name);
        ck_assert_msg(t != NULL, "%s", r->name);
        if (strncmp(r->name, "model.layers.0.mlp.", 19) == 0) continue;
        ck_assert(t->nbytes == r->nbytes && memcmp(t->data, r->data, t->nbytes) == 0);
    }
    /* A second drop of the same sublayer is refused and changes nothing. */
    bool again[4] = {0, 1, 0, 0};
    ck_assert_int_eq(lr_drop_sublayers(ck, NULL, again, &e), -1);
    ck_assert_msg(strstr(e.msg, "layer 1's MLP is already dropped"), "%s", e.msg);
    ck_assert_int_eq(lr_drop_sublayers(ck, da, NULL, &e), -1);
    ck_assert_msg(strstr(e.msg, "layer 2's attention is already dropped"), "%s", e.msg);

    char *argv[] = {"/usr/bin/lr-cut-depth", "--mlp-layers", "1", NULL};
    lr_checkpoint_add_history(ck, 3, argv);
    snprintf(out, sizeof out, "%s/out.tar", tmpdir);
    ck_assert_int_eq(lr_checkpoint_save(ck, out, &e), 0);
    lr_checkpoint *r = load_ok(out);
    json_t *h = json_array_get(json_object_get(r->lr_json, "history"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(h, "tool")), "lr-cut-depth");
    ck_assert_str_eq(json_string_value(json_object_get(h, "input")), loaded);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(h, "args"), 1)), "1");
    ck_assert_int_eq(strlen(json_string_value(json_object_get(h, "time"))), 20);
    ck_assert(!r->layers[2].attn && r->layers[1].mlp == 0 && r->layers[0].mlp == 160);
    assert_same(ck, r, true);
    lr_checkpoint_free(r);
    lr_checkpoint_free(ck);
    lr_checkpoint_free(ref);
}
END_TEST

START_TEST(test_set_remove_validate)
{
    char dir[512];
    if (!shared_path(dir, sizeof dir, "fixtures/tiny-llama")) return;
    lr_checkpoint *ck = load_ok(dir);
    lr_error e;
    ck_assert_int_eq(lr_checkpoint_remove_tensor(ck, "model.layers.1.mlp.up_proj.weight"), 0);
    ck_assert_int_eq(lr_checkpoint_remove_tensor(ck, "model.layers.1.mlp.up_proj.weight"), -1);
    ck_assert_int_eq(lr_checkpoint_validate(ck, &e), -1);
    ck_assert_msg(strstr(e.msg, "model.layers.1.mlp.up_proj.weight missing (expected shape [160, 64]"), "%s", e.msg);
    int64_t shape[2] = {100, 64};
    lr_checkpoint_set_tensor(ck, "model.layers.1.mlp.up_proj.weight", LR_F32, 2, shape, calloc(100 * 64, 4));
    ck_assert_int_eq(lr_checkpoint_validate(ck, &e), -1);
    ck_assert_msg(strstr(e.msg, "has shape [100, 64], expected [160, 64]"), "%s", e.msg);
    shape[0] = 160;
    lr_checkpoint_set_tensor(ck, "model.layers.1.mlp.up_proj.weight", LR_F32, 2, shape, calloc(160 * 64, 4));
    ck_assert_int_eq(lr_checkpoint_validate(ck, &e), 0);
    lr_checkpoint_set_tensor(ck, "model.extra.weight", LR_BF16, 1, shape, calloc(160, 2));
    ck_assert_int_eq(lr_checkpoint_validate(ck, &e), -1);
    ck_assert_msg(strstr(e.msg, "unexpected tensor model.extra.weight [160]"), "%s", e.msg);
    lr_checkpoint_free(ck);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("checkpoint");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_fixture_dir_tar_roundtrip, 0, (int)(sizeof fixtures / sizeof *fixtures));
    tcase_add_loop_test(tc, test_known_digests, 0, (int)(sizeof known_digests / sizeof *known_digests));
    tcase_add_test(tc, test_stdin);
    tcase_add_test(tc, test_drop_data);
    tcase_add_test(tc, test_configs);
    tcase_add_test(tc, test_config_variants);
    tcase_add_test(tc, test_config_defaults);
    tcase_add_test(tc, test_dtypes);
    tcase_add_test(tc, test_f16_rounding_exhaustive);
    tcase_add_test(tc, test_drop_sublayers);
    tcase_add_test(tc, test_set_remove_validate);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite_shared(suite()); }
