/* tokenizer.c - Hugging Face tokenizer.json: loading, added tokens, the
 * post-processor, encoding and decoding.
 *
 * Encoding follows the Rust `tokenizers` crate: added tokens that are not
 * `normalized` are split off the raw text first; each remaining segment is
 * normalized, split on the `normalized` added tokens, pre-tokenized, and
 * each pre-token goes through the BPE model.  For byte-level tokenizers the
 * vocabulary is kept as raw bytes (GPT-2 byte map undone at load), so text
 * is never mapped to the byte alphabet at run time.
 *
 * Invalid UTF-8 input is not an error: each maximal invalid subsequence is
 * replaced by U+FFFD first, as Hugging Face's lossy decoding of bytes does.
 * All state touched by lr_tokenize is per call, so it is thread-safe. */
#include "config.h"
#include "text/tokenizer-internal.h"

#include <jansson.h>

void lr_ids_push(lr_ids *v, int32_t id)
{
    v->ids = lr_grow(v->ids, &v->cap, v->n + 1, sizeof *v->ids);
    v->ids[v->n++] = id;
}

/* ---------------------------------------------------------------- loading */

static char *dup_n(const char *s, size_t n)
{
    char *p = lr_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* Byte-level token (GPT-2 alphabet) to raw bytes appended to out; false
 * when some character is outside the alphabet. */
static bool unmap_into(const char *s, size_t n, tk_buf *out)
{
    size_t start = out->n;
    tk_buf_reserve(out, n);
    for (size_t i = 0; i < n;) {
        if ((unsigned char)s[i] < 0x80) {
            int b = tk_cp_to_byte((unsigned char)s[i]);
            if (b < 0) { out->n = start; return false; }
            out->p[out->n++] = (char)b;
            i++;
            continue;
        }
        size_t l = lr_utf8_valid_len((const unsigned char *)s + i, n - i);
        int32_t cp;
        if (!l) { out->n = start; return false; }
        tk_utf8_decode((const unsigned char *)s + i, &cp);
        int b = tk_cp_to_byte(cp);
        if (b < 0) { out->n = start; return false; }
        out->p[out->n++] = (char)b;
        i += l;
    }
    return true;
}

/* Id of a token string as written in tokenizer.json (vocabulary only). */
static int32_t vocab_lookup(const tk_bpe *b, const char *s, size_t n)
{
    if (!b->byte_level) return (int32_t)lr_map_get_bytes(&b->vocab, s, n);
    char small[256];
    tk_buf raw = {small, 0, sizeof small};
    if (n + 1 > sizeof small) raw = (tk_buf){0};
    int32_t id = (int32_t)(unmap_into(s, n, &raw) ? lr_map_get_bytes(&b->vocab, raw.p, raw.n)
                                                  : lr_map_get_bytes(&b->vocab, s, n));
    if (raw.p != small) free(raw.p);
    return id;
}

static void vocab_from_json(json_t *vocab, tk_vocab_list *vl)
{
    void *it = json_object_iter(vocab);
    while (it) {
        json_t *v = json_object_iter_value(it);
        vl->v = lr_grow(vl->v, &vl->cap, vl->n + 1, sizeof *vl->v);
        tk_vent *e = &vl->v[vl->n++];
        e->off = vl->pool.n;
        e->len = (uint32_t)json_object_iter_key_len(it);
        tk_buf_add(&vl->pool, json_object_iter_key(it), e->len + 1);
        e->id = json_is_integer(v) ? json_integer_value(v) : -1;
        it = json_object_iter_next(vocab, it);
    }
}

static int merges_from_json(json_t *merges, tk_merge_list *ml, const char *what, lr_error *err)
{
    size_t i;
    json_t *e;
    ml->cap = json_array_size(merges) + 1;
    ml->v = lr_xmalloc(ml->cap * sizeof *ml->v);
    json_array_foreach(merges, i, e) {
        tk_ment *m = &ml->v[ml->n++];
        json_t *x = json_array_get(e, 0), *y = json_array_get(e, 1);
        if (json_is_string(e)) {
            m->pair = false;
            m->a = ml->pool.n;
            m->la = (uint32_t)json_string_length(e);
            tk_buf_add(&ml->pool, json_string_value(e), m->la + 1);
        } else if (json_is_array(e) && json_array_size(e) == 2 && json_is_string(x) && json_is_string(y)) {
            m->pair = true;
            m->a = ml->pool.n;
            m->la = (uint32_t)json_string_length(x);
            tk_buf_add(&ml->pool, json_string_value(x), m->la + 1);
            m->b = ml->pool.n;
            m->lb = (uint32_t)json_string_length(y);
            tk_buf_add(&ml->pool, json_string_value(y), m->lb + 1);
        } else
            return lr_errorf(err, "%s: merge %zu is neither \"a b\" nor [\"a\", \"b\"]", what, i);
    }
    return 0;
}

static int load_model(lr_tokenizer *t, json_t *m, tk_vocab_list *vl, tk_merge_list *ml, bool fast,
                      const char *what, lr_error *err)
{
    tk_bpe *b = &t->bpe;
    if (!json_is_object(m)) return lr_errorf(err, "%s: no \"model\" object", what);
    json_t *vocab = json_object_get(m, "vocab"), *merges = json_object_get(m, "merges");
    const char *type = json_string_value(json_object_get(m, "type"));
    if (type && strcmp(type, "BPE"))
        return lr_errorf(err, "%s: unsupported model type \"%s\" (only BPE)", what, type);
    if (!type && !merges)
        return lr_errorf(err, "%s: model without a type or merges (only BPE is supported)", what);
    if (!json_is_object(vocab)) return lr_errorf(err, "%s: model has no \"vocab\" object", what);
    if (!json_is_array(merges)) return lr_errorf(err, "%s: model has no \"merges\" array", what);
    json_t *dropout = json_object_get(m, "dropout");
    if (json_is_number(dropout) && json_number_value(dropout) > 0)
        return lr_errorf(err, "%s: unsupported BPE dropout %g", what, json_number_value(dropout));
    const char *fields[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (size_t i = 0; i < 2; i++) {
        const char *v = json_string_value(json_object_get(m, fields[i]));
        if (v && *v) return lr_errorf(err, "%s: unsupported BPE %s \"%s\"", what, fields[i], v);
    }
    b->byte_fallback = json_is_true(json_object_get(m, "byte_fallback"));
    b->fuse_unk = json_is_true(json_object_get(m, "fuse_unk"));
    b->ignore_merges = json_is_true(json_object_get(m, "ignore_merges"));
    if (!fast) {
        vocab_from_json(vocab, vl);
        if (merges_from_json(merges, ml, what, err)) return -1;
    }

    /* Vocabulary: ids must be non-negative and dense enough to index. */
    int64_t maxid = -1;
    for (size_t i = 0; i < vl->n; i++) {
        if (vl->v[i].id < 0 || vl->v[i].id > INT32_MAX / 2)
            return lr_errorf(err, "%s: vocab entry \"%.40s\" has no valid id", what, vl->pool.p + vl->v[i].off);
        if (vl->v[i].id > maxid) maxid = vl->v[i].id;
    }
    if (maxid > 64 * (int64_t)vl->n + 1024)
        return lr_errorf(err, "%s: vocab ids are too sparse (max id %lld for %zu tokens)", what,
                         (long long)maxid, vl->n);
    b->n_vocab = (int32_t)(maxid + 1);
    b->tok = lr_xcalloc((size_t)b->n_vocab + 1, sizeof *b->tok);
    b->key = lr_xcalloc((size_t)b->n_vocab + 1, sizeof *b->key);
    b->key_len = lr_xcalloc((size_t)b->n_vocab + 1, sizeof *b->key_len);
    b->tok_pool = vl->pool.p;
    vl->pool.p = NULL;
    for (size_t i = 0; i < vl->n; i++) {
        int32_t id = (int32_t)vl->v[i].id;
        if (b->tok[id]) return lr_errorf(err, "%s: vocab id %d is used twice", what, (int)id);
        b->tok[id] = b->key[id] = b->tok_pool + vl->v[i].off;
        b->key_len[id] = vl->v[i].len;
    }
    if (b->byte_level) {
        /* Keep the vocabulary as raw bytes: text is never byte-mapped. */
        size_t *koff = lr_xmalloc(((size_t)b->n_vocab + 1) * sizeof *koff);
        tk_buf kp = {0};
        for (int32_t id = 0; id < b->n_vocab; id++) {
            koff[id] = SIZE_MAX;
            if (!b->tok[id]) continue;
            size_t o = kp.n;
            if (unmap_into(b->tok[id], b->key_len[id], &kp)) {
                koff[id] = o;
                b->key_len[id] = (uint32_t)(kp.n - o);
                tk_buf_add(&kp, "", 1);
            }
        }
        b->key_pool = kp.p;
        for (int32_t id = 0; id < b->n_vocab; id++)
            if (koff[id] != SIZE_MAX) b->key[id] = kp.p + koff[id];
        free(koff);
    }
    /* a token listed twice keeps its first id */
    lr_map_init(&b->vocab, vl->n);
    b->vocab.key = (const char *const *)b->key;
    b->vocab.key_len = b->key_len;
    for (int32_t id = 0; id < b->n_vocab; id++)
        if (b->tok[id]) lr_map_put_bytes(&b->vocab, (uint32_t)id);

    for (int c = 0; c < 256; c++) {
        char s[8];
        if (b->byte_level) {
            s[0] = (char)c;
            b->byte_id[c] = (int32_t)lr_map_get_bytes(&b->vocab, s, 1);
        } else {
            snprintf(s, sizeof s, "<0x%02X>", c);
            b->byte_id[c] = (int32_t)lr_map_get_bytes(&b->vocab, s, 6);
        }
        if (c < 128) {
            s[0] = (char)c;
            b->ascii_id[c] = (int32_t)lr_map_get_bytes(&b->vocab, s, 1);
        }
    }
    b->unk_id = -1;
    const char *unk = json_string_value(json_object_get(m, "unk_token"));
    if (unk) {
        b->unk_id = vocab_lookup(b, unk, strlen(unk));
        if (b->unk_id < 0) return lr_errorf(err, "%s: unk_token \"%s\" is not in the vocabulary", what, unk);
    }

    /* SentencePiece-style: words start at the Metaspace replacement. */
    const char *wc = "\xE2\x96\x81";
    for (size_t i = 0; i < t->n_pretoks; i++)
        if (t->pretoks[i].type == TK_P_METASPACE) wc = t->pretoks[i].repl;
    tk_bpe_check_word_split(b, wc, strlen(wc));

    /* Merges: rank = position in the list. */
    lr_map_init(&b->merges, ml->n);
    tk_buf cat = {0};
    int rc = 0;
    for (size_t i = 0; i < ml->n && rc == 0; i++) {
        const tk_ment *e = &ml->v[i];
        const char *pa = ml->pool.p + e->a, *pb;
        size_t la = e->la, lb;
        if (e->pair) {
            pb = ml->pool.p + e->b;
            lb = e->lb;
        } else {
            const char *sp = memchr(pa, ' ', la);
            if (!sp || memchr(sp + 1, ' ', la - (size_t)(sp + 1 - pa))) {
                rc = lr_errorf(err, "%s: merge %zu \"%.40s\" is not two tokens separated by a space", what, i, pa);
                break;
            }
            pb = sp + 1;
            lb = la - (size_t)(sp - pa) - 1;
            la = (size_t)(sp - pa);
        }
        int32_t ia = vocab_lookup(b, pa, la), ib = vocab_lookup(b, pb, lb);
        cat.n = 0;
        tk_buf_add(&cat, pa, la);
        tk_buf_add(&cat, pb, lb);
        int32_t ic = vocab_lookup(b, cat.p, cat.n);
        if (ia < 0 || ib < 0 || ic < 0) {
            rc = lr_errorf(err, "%s: merge %zu (\"%.*s\" \"%.*s\"): %s not in the vocabulary", what, i,
                           (int)LR_MIN(la, 40), pa, (int)LR_MIN(lb, 40), pb,
                           ia < 0 || ib < 0 ? "a part is" : "the merged token is");
            break;
        }
        /* a pair listed twice keeps its first rank */
        lr_map_put(&b->merges, (uint64_t)(uint32_t)ia << 32 | (uint32_t)ib, (uint64_t)i << 32 | (uint32_t)ic);
    }
    free(cat.p);
    return rc;
}

static int cmp_added(const void *a, const void *b)
{
    const tk_added *x = a, *y = b;
    unsigned char fx = (unsigned char)x->content[0], fy = (unsigned char)y->content[0];
    if (fx != fy) return fx < fy ? -1 : 1;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;   /* longest first */
    return x->id < y->id ? -1 : x->id > y->id;
}

static int load_added(lr_tokenizer *t, json_t *a, const char *what, lr_error *err)
{
    if (!a || json_is_null(a)) return 0;
    if (!json_is_array(a)) return lr_errorf(err, "%s: \"added_tokens\" is not an array", what);
    size_t i;
    json_t *x;
    t->added = lr_xcalloc(json_array_size(a) + 1, sizeof *t->added);
    json_array_foreach(a, i, x) {
        json_t *id = json_object_get(x, "id"), *c = json_object_get(x, "content");
        if (!json_is_integer(id) || !json_is_string(c))
            return lr_errorf(err, "%s: added token %zu needs an \"id\" and a \"content\"", what, i);
        if (json_integer_value(id) < 0 || json_integer_value(id) > INT32_MAX / 2)
            return lr_errorf(err, "%s: added token %zu: id %lld out of range [0, %d]", what, i,
                             (long long)json_integer_value(id), INT32_MAX / 2);
        if (json_string_length(c) == 0) continue;
        tk_added *ad = &t->added[t->n_added++];
        ad->id = (int32_t)json_integer_value(id);
        ad->len = json_string_length(c);
        ad->content = dup_n(json_string_value(c), ad->len);
        ad->lstrip = json_is_true(json_object_get(x, "lstrip"));
        ad->rstrip = json_is_true(json_object_get(x, "rstrip"));
        ad->single_word = json_is_true(json_object_get(x, "single_word"));
        ad->normalized = json_is_true(json_object_get(x, "normalized"));
        ad->special = json_is_true(json_object_get(x, "special"));
    }
    qsort(t->added, t->n_added, sizeof *t->added, cmp_added);
    for (size_t k = 0; k < t->n_added; k++) {
        t->added_first[(unsigned char)t->added[k].content[0]] |= t->added[k].normalized ? 2 : 1;
        if (t->added[k].normalized) t->has_norm_added = true;
        else t->has_raw_added = true;
    }
    return 0;
}

/* Id of a special added token, -1 if none. */
static int32_t added_id_of(const lr_tokenizer *t, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].special && t->added[i].len == n && !memcmp(t->added[i].content, s, n)) return t->added[i].id;
    return -1;
}

static int32_t token_id_of(const lr_tokenizer *t, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].len == n && !memcmp(t->added[i].content, s, n)) return t->added[i].id;
    return vocab_lookup(&t->bpe, s, n);
}

static void push_i32(int32_t **v, size_t *n, int32_t x)
{
    *v = lr_xrealloc(*v, (*n + 1) * sizeof **v);
    (*v)[(*n)++] = x;
}

static int load_template(lr_tokenizer *t, json_t *p, const char *what, lr_error *err)
{
    json_t *single = json_object_get(p, "single"), *specials = json_object_get(p, "special_tokens"), *x;
    size_t i;
    bool seen_seq = false;
    if (!json_is_array(single)) return lr_errorf(err, "%s: TemplateProcessing without \"single\"", what);
    json_array_foreach(single, i, x) {
        json_t *st = json_object_get(x, "SpecialToken");
        if (json_object_get(x, "Sequence")) { seen_seq = true; continue; }
        const char *name = json_string_value(json_object_get(st, "id"));
        if (!name) return lr_errorf(err, "%s: TemplateProcessing item %zu is neither SpecialToken nor Sequence", what, i);
        json_t *ids = json_object_get(json_object_get(specials, name), "ids"), *y;
        size_t k;
        if (!json_is_array(ids)) return lr_errorf(err, "%s: TemplateProcessing special token \"%s\" has no ids", what, name);
        json_array_foreach(ids, k, y) {
            if (!json_is_integer(y)) return lr_errorf(err, "%s: TemplateProcessing special token \"%s\": bad id", what, name);
            if (seen_seq) push_i32(&t->suffix, &t->n_suffix, (int32_t)json_integer_value(y));
            else push_i32(&t->prefix, &t->n_prefix, (int32_t)json_integer_value(y));
        }
    }
    return 0;
}

static int load_post(lr_tokenizer *t, json_t *p, const char *what, lr_error *err)
{
    if (!p || json_is_null(p)) return 0;
    const char *type = json_string_value(json_object_get(p, "type"));
    if (!type) return lr_errorf(err, "%s: post_processor without a type", what);
    if (!strcmp(type, "ByteLevel")) return 0;   /* offsets only */
    if (!strcmp(type, "TemplateProcessing")) return load_template(t, p, what, err);
    if (!strcmp(type, "Sequence")) {
        json_t *a = json_object_get(p, "processors"), *x;
        size_t i;
        json_array_foreach(a, i, x)
            if (load_post(t, x, what, err)) return -1;
        return 0;
    }
    if (!strcmp(type, "BertProcessing") || !strcmp(type, "RobertaProcessing")) {
        json_t *cls = json_object_get(p, "cls"), *sep = json_object_get(p, "sep");
        if (!json_is_integer(json_array_get(cls, 1)) || !json_is_integer(json_array_get(sep, 1)))
            return lr_errorf(err, "%s: %s without cls/sep", what, type);
        push_i32(&t->prefix, &t->n_prefix, (int32_t)json_integer_value(json_array_get(cls, 1)));
        push_i32(&t->suffix, &t->n_suffix, (int32_t)json_integer_value(json_array_get(sep, 1)));
        return 0;
    }
    return lr_errorf(err, "%s: unsupported post_processor type \"%s\"", what, type);
}

/* bos_token / eos_token in tokenizer_config.json: a string or {"content": ...}. */
static int32_t config_token(const lr_tokenizer *t, json_t *cfg, const char *key)
{
    json_t *v = json_object_get(cfg, key);
    if (json_is_object(v)) v = json_object_get(v, "content");
    const char *s = json_string_value(v);
    return s ? token_id_of(t, s) : -1;
}

static int apply_config(lr_tokenizer *t, const char *cfgtext, size_t len, const char *what, lr_error *err)
{
    int32_t cfg_bos = -1, cfg_eos = -1;
    if (cfgtext) {
        char cw[600];
        snprintf(cw, sizeof cw, "%s (tokenizer_config.json)", what);
        /* Integers such as model_max_length 1e30 overflow json_int_t. */
        json_error_t je;
        json_t *cfg = json_loadb(cfgtext, len, JSON_DECODE_INT_AS_REAL, &je);
        if (!cfg)
            return lr_errorf(err, "%s: malformed JSON at line %d, column %d: %s", cw, je.line, je.column, je.text);
        if (!json_is_object(cfg)) {
            json_decref(cfg);
            return lr_errorf(err, "%s: not a JSON object", cw);
        }
        cfg_bos = config_token(t, cfg, "bos_token");
        cfg_eos = config_token(t, cfg, "eos_token");
        /* As transformers' Llama-style tokenizers rebuild the template. */
        json_t *ab = json_object_get(cfg, "add_bos_token"), *ae = json_object_get(cfg, "add_eos_token");
        if (json_is_boolean(ab)) {
            t->n_prefix = 0;
            if (json_is_true(ab) && cfg_bos >= 0) push_i32(&t->prefix, &t->n_prefix, cfg_bos);
        }
        if (json_is_boolean(ae)) {
            t->n_suffix = 0;
            if (json_is_true(ae) && cfg_eos >= 0) push_i32(&t->suffix, &t->n_suffix, cfg_eos);
        }
        json_decref(cfg);
    }
    static const char *const BOS[] = {"<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>"};
    static const char *const EOS[] = {"</s>", "<|endoftext|>", "<|end_of_text|>", "<eos>"};
    t->bos_id = t->n_prefix ? t->prefix[0] : cfg_bos;
    t->eos_id = t->n_suffix ? t->suffix[t->n_suffix - 1] : cfg_eos;
    for (size_t i = 0; i < LR_ARRAY_LEN(BOS) && t->bos_id < 0; i++) t->bos_id = added_id_of(t, BOS[i]);
    for (size_t i = 0; i < LR_ARRAY_LEN(EOS) && t->eos_id < 0; i++) t->eos_id = added_id_of(t, EOS[i]);
    return 0;
}

static void free_lists(tk_vocab_list *vl, tk_merge_list *ml)
{
    free(vl->pool.p);
    free(vl->v);
    free(ml->pool.p);
    free(ml->v);
    memset(vl, 0, sizeof *vl);
    memset(ml, 0, sizeof *ml);
}

lr_tokenizer *lr_tokenizer_load(const char *text, size_t len, const char *config_json,
                                size_t config_len, const char *what, lr_error *err)
{
    if (!what) what = "tokenizer.json";
    if (!text) {
        lr_errorf(err, "%s: no tokenizer.json text", what);
        return NULL;
    }
    /* Fast path for the large vocab and merges; jansson for the rest. */
    tk_vocab_list vl = {0};
    tk_merge_list ml = {0};
    size_t rlen;
    json_t *j = NULL;
    char *reduced = tk_json_split_model(text, len, &vl, &ml, &rlen);
    if (reduced) {
        json_error_t je;
        j = json_loadb(reduced, rlen, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
        free(reduced);
    }
    bool fast = j != NULL;
    if (!fast) {
        free_lists(&vl, &ml);
        j = lr_json_parse(text, len, what, err);
        if (!j) return NULL;
    }
    lr_tokenizer *t = lr_xcalloc(1, sizeof *t);
    t->what = lr_xstrdup(what);
    t->bos_id = t->eos_id = -1;
    if (!json_is_object(j)) { lr_errorf(err, "%s: not a JSON object", what); goto fail; }
    /* The pre-tokenizer decides whether the vocabulary is byte-level. */
    if (tk_load_pretokenizer(t, json_object_get(j, "pre_tokenizer"), what, err)) goto fail;
    if (tk_load_normalizer(t, json_object_get(j, "normalizer"), what, err)) goto fail;
    if (load_model(t, json_object_get(j, "model"), &vl, &ml, fast, what, err)) goto fail;
    if (load_added(t, json_object_get(j, "added_tokens"), what, err)) goto fail;
    if (load_post(t, json_object_get(j, "post_processor"), what, err)) goto fail;
    if (tk_load_decoder(t, json_object_get(j, "decoder"), what, err)) goto fail;

    t->vocab_size = t->bpe.n_vocab;
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].id + 1 > t->vocab_size) t->vocab_size = t->added[i].id + 1;
    for (size_t i = 0; i < t->n_prefix + t->n_suffix; i++) {
        int32_t id = i < t->n_prefix ? t->prefix[i] : t->suffix[i - t->n_prefix];
        if (id < 0 || id >= t->vocab_size) {
            lr_errorf(err, "%s: post_processor id %d is outside the vocabulary", what, (int)id);
            goto fail;
        }
    }
    t->special_tok = lr_xcalloc((size_t)t->vocab_size, sizeof *t->special_tok);
    t->is_special = lr_xcalloc((size_t)t->vocab_size, sizeof *t->is_special);
    for (size_t i = 0; i < t->n_added; i++) {
        t->special_tok[t->added[i].id] = t->added[i].content;
        if (t->added[i].special) t->is_special[t->added[i].id] = true;
    }
    json_decref(j);
    j = NULL;
    if (apply_config(t, config_json, config_len, what, err)) goto fail;
    free_lists(&vl, &ml);
    return t;
fail:
    free_lists(&vl, &ml);
    json_decref(j);
    lr_tokenizer_free(t);
    return NULL;
}

static const char *dir_end(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

lr_tokenizer *lr_tokenizer_load_file(const char *path, lr_error *err)
{
    size_t n, cn = 0;
    char *text = lr_read_file(path, &n, err);
    if (!text) return NULL;
    size_t dl = (size_t)(dir_end(path) - path);
    char *cpath = lr_xmalloc(dl + 32);
    memcpy(cpath, path, dl);
    strcpy(cpath + dl, "tokenizer_config.json");
    char *cfg = NULL;
    FILE *f = fopen(cpath, "rb");
    if (f) {
        fclose(f);
        cfg = lr_read_file(cpath, &cn, err);
        if (!cfg) { free(cpath); free(text); return NULL; }
    }
    lr_tokenizer *t = lr_tokenizer_load(text, n, cfg, cn, path, err);
    free(cpath);
    free(cfg);
    free(text);
    return t;
}

static const lr_file *ck_file(const lr_checkpoint *ck, const char *name)
{
    for (size_t i = 0; i < ck->n_files; i++)
        if (ck->files[i].name && !strcmp(dir_end(ck->files[i].name), name)) return &ck->files[i];
    return NULL;
}

lr_tokenizer *lr_tokenizer_from_checkpoint(const lr_checkpoint *ck, lr_error *err)
{
    const char *src = ck->source ? ck->source : "checkpoint";
    const lr_file *tj = ck_file(ck, "tokenizer.json"), *tc = ck_file(ck, "tokenizer_config.json");
    if (!tj) {
        lr_errorf(err, "%s: no tokenizer.json in the checkpoint", src);
        return NULL;
    }
    char what[600];
    snprintf(what, sizeof what, "%s: tokenizer.json", src);
    return lr_tokenizer_load(tj->data, tj->size, tc ? tc->data : NULL, tc ? tc->size : 0, what, err);
}

void lr_tokenizer_free(lr_tokenizer *t)
{
    if (!t) return;
    free(t->what);
    tk_bpe_free(&t->bpe);
    for (size_t i = 0; i < t->n_norms; i++) {
        free(t->norms[i].str);
        tk_pattern_free(&t->norms[i].pat);
    }
    free(t->norms);
    for (size_t i = 0; i < t->n_pretoks; i++) tk_pattern_free(&t->pretoks[i].pat);
    free(t->pretoks);
    for (size_t i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    for (size_t i = 0; i < t->n_decs; i++) {
        free(t->decs[i].str);
        tk_pattern_free(&t->decs[i].pat);
    }
    free(t->decs);
    free(t->prefix);
    free(t->suffix);
    free(t->special_tok);
    free(t->is_special);
    free(t);
}

/* ---------------------------------------------------------------- encoding */

typedef struct tk_state {
    tk_buf norm, tmp;
    tk_pieces pieces, ptmp;
    tk_match_ctx mc;
} tk_state;

static void state_free(tk_state *s)
{
    free(s->norm.p);
    free(s->tmp.p);
    free(s->pieces.v);
    free(s->ptmp.v);
    tk_match_ctx_free(&s->mc);
}

static bool is_word_char(const char *s, size_t n, size_t at, bool before)
{
    const unsigned char *u = (const unsigned char *)s;
    if (before) {
        if (at == 0) return false;
        size_t st = at - 1;
        while (st > 0 && (u[st] & 0xC0) == 0x80) st--;
        int32_t cp;
        tk_utf8_decode(u + st, &cp);
        return tk_is_word(cp);
    }
    if (at >= n) return false;
    int32_t cp;
    tk_utf8_decode(u + at, &cp);
    return tk_is_word(cp);
}

/* Next added-token match (normalized or not, per `which`) in s[pos..n):
 * leftmost, then longest; the match span includes stripped whitespace. */
static const tk_added *next_added(const lr_tokenizer *t, int which, const char *s, size_t n, size_t pos,
                                  size_t *ms, size_t *me)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = pos;
    while (i < n) {
        while (i < n && !(t->added_first[u[i]] & which)) i++;
        if (i >= n) return NULL;
        const tk_added *best = NULL;
        /* Tokens are sorted by first byte, longest first. */
        size_t lo = 0, hi = t->n_added;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if ((unsigned char)t->added[mid].content[0] < u[i]) lo = mid + 1;
            else hi = mid;
        }
        for (size_t k = lo; k < t->n_added && (unsigned char)t->added[k].content[0] == u[i]; k++) {
            const tk_added *a = &t->added[k];
            if ((a->normalized ? 2 : 1) != which || a->len > n - i) continue;
            if (!memcmp(s + i, a->content, a->len)) { best = a; break; }
        }
        if (!best) { i++; continue; }
        size_t st = i, en = i + best->len;
        if (best->single_word && (is_word_char(s, n, st, true) || is_word_char(s, n, en, false))) {
            i = en;
            continue;
        }
        if (best->lstrip)
            while (st > pos) {
                size_t q = st - 1;
                while (q > pos && (u[q] & 0xC0) == 0x80) q--;
                int32_t cp;
                tk_utf8_decode(u + q, &cp);
                if (!tk_is_whitespace(cp)) break;
                st = q;
            }
        if (best->rstrip)
            while (en < n) {
                int32_t cp;
                size_t l = tk_utf8_decode(u + en, &cp);
                if (!tk_is_whitespace(cp)) break;
                en += l;
            }
        *ms = st;
        *me = en;
        return best;
    }
    return NULL;
}

/* Pre-tokenize and run BPE over norm[off..off+len). */
static int encode_normalized(const lr_tokenizer *t, tk_state *st, size_t off, size_t len, bool at_start,
                             lr_ids *out, lr_error *err)
{
    if (len == 0) return 0;
    st->pieces.n = 0;
    if (st->pieces.cap == 0) {
        st->pieces.cap = 64;
        st->pieces.v = lr_xmalloc(st->pieces.cap * sizeof *st->pieces.v);
    }
    st->pieces.v[st->pieces.n++] = (tk_piece){off, len, at_start};
    if (tk_pretokenize(t, &st->norm, &st->pieces, &st->ptmp, &st->mc, err)) return -1;
    for (size_t i = 0; i < st->pieces.n; i++)
        tk_bpe_encode(&t->bpe, st->norm.p + st->pieces.v[i].off, st->pieces.v[i].len, out);
    return 0;
}

/* A segment of raw text between non-normalized added tokens. */
static int encode_segment(const lr_tokenizer *t, tk_state *st, const char *s, size_t n, bool at_start,
                          lr_ids *out, lr_error *err)
{
    if (n == 0) return 0;
    if (tk_normalize(t, s, n, &st->norm, &st->tmp, &st->mc, err)) return -1;
    size_t nn = st->norm.n;
    if (!t->has_norm_added) return encode_normalized(t, st, 0, nn, at_start, out, err);
    size_t pos = 0, ms, me;
    const tk_added *a;
    /* Pre-tokenization appends to the buffer: matches stay within [0, nn). */
    while ((a = next_added(t, 2, st->norm.p, nn, pos, &ms, &me))) {
        if (encode_normalized(t, st, pos, ms - pos, at_start && pos == 0, out, err)) return -1;
        lr_ids_push(out, a->id);
        pos = me;
    }
    return encode_normalized(t, st, pos, nn - pos, at_start && pos == 0, out, err);
}

int lr_tokenize(const lr_tokenizer *t, const char *text, size_t len, bool add_special,
                lr_ids *out, lr_error *err)
{
    size_t clean_len = 0;
    char *clean = tk_utf8_sanitize(text, len, &clean_len);
    if (clean) { text = clean; len = clean_len; }
    if (add_special)
        for (size_t i = 0; i < t->n_prefix; i++) lr_ids_push(out, t->prefix[i]);
    tk_state st;
    memset(&st, 0, sizeof st);
    int rc = 0;
    size_t pos = 0, ms, me;
    const tk_added *a;
    if (t->has_raw_added)
        while ((a = next_added(t, 1, text, len, pos, &ms, &me))) {
            if ((rc = encode_segment(t, &st, text + pos, ms - pos, pos == 0, out, err))) break;
            lr_ids_push(out, a->id);
            pos = me;
        }
    if (rc == 0) rc = encode_segment(t, &st, text + pos, len - pos, pos == 0, out, err);
    if (rc == 0 && add_special)
        for (size_t i = 0; i < t->n_suffix; i++) lr_ids_push(out, t->suffix[i]);
    state_free(&st);
    free(clean);
    return rc;
}

/* ---------------------------------------------------------------- queries */

int lr_tokenizer_vocab_size(const lr_tokenizer *t) { return t->vocab_size; }
int lr_tokenizer_eos_id(const lr_tokenizer *t) { return t->eos_id; }
int lr_tokenizer_bos_id(const lr_tokenizer *t) { return t->bos_id; }
int lr_tokenizer_token_id(const lr_tokenizer *t, const char *token) { return token_id_of(t, token); }

const char *lr_tokenizer_token(const lr_tokenizer *t, int id)
{
    if (id < 0 || id >= t->vocab_size) return NULL;
    if (t->special_tok[id]) return t->special_tok[id];
    return id < t->bpe.n_vocab ? t->bpe.tok[id] : NULL;
}
