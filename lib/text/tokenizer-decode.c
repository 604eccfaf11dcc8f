/* tokenizer-decode.c - the decoder chain of tokenizer.json (ByteLevel,
 * Metaspace, ByteFallback, Fuse, Strip, Replace), as the Rust crate runs it:
 * each decoder maps the list of token strings to a new list, and the
 * result is their concatenation. */
#define _GNU_SOURCE 1 /* memmem */
#include "config.h"
#include "text/tokenizer-internal.h"

#include <jansson.h>

static int add_dec(lr_tokenizer *t, json_t *j, const char *what, lr_error *err)
{
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!type) return lr_errorf(err, "%s: decoder without a type", what);
    if (!strcmp(type, "Sequence")) {
        json_t *a = json_object_get(j, "decoders"), *x;
        size_t i;
        if (!json_is_array(a)) return lr_errorf(err, "%s: Sequence decoder without \"decoders\"", what);
        json_array_foreach(a, i, x)
            if (add_dec(t, x, what, err)) return -1;
        return 0;
    }
    tk_dec d;
    memset(&d, 0, sizeof d);
    if (!strcmp(type, "ByteLevel")) d.type = TK_D_BYTELEVEL;
    else if (!strcmp(type, "ByteFallback")) d.type = TK_D_BYTEFALLBACK;
    else if (!strcmp(type, "Fuse")) d.type = TK_D_FUSE;
    else if (!strcmp(type, "Metaspace")) {
        d.type = TK_D_METASPACE;
        json_t *r = json_object_get(j, "replacement");
        const char *s = r ? json_string_value(r) : "\xE2\x96\x81";
        if (!s || !*s) return lr_errorf(err, "%s: Metaspace decoder without a replacement", what);
        tk_utf8_decode((const unsigned char *)s, &d.repl_cp);
        const char *ps = json_string_value(json_object_get(j, "prepend_scheme"));
        json_t *aps = json_object_get(j, "add_prefix_space");
        d.prepend = ps ? strcmp(ps, "never") != 0 : !(aps && json_is_false(aps));
    } else if (!strcmp(type, "Strip")) {
        d.type = TK_D_STRIP;
        json_t *c = json_object_get(j, "content");
        const char *s = json_string_value(c);
        if (!s) return lr_errorf(err, "%s: Strip decoder without \"content\"", what);
        d.str_len = strlen(s);
        d.str = lr_xstrdup(s);
        d.start = (int)json_integer_value(json_object_get(j, "start"));
        d.stop = (int)json_integer_value(json_object_get(j, "stop"));
    } else if (!strcmp(type, "Replace")) {
        d.type = TK_D_REPLACE;
        json_t *c = json_object_get(j, "content");
        if (!json_is_string(c)) return lr_errorf(err, "%s: Replace decoder without \"content\"", what);
        if (tk_load_pattern(&d.pat, json_object_get(j, "pattern"), what, err)) return -1;
        d.str_len = json_string_length(c);
        d.str = lr_xmalloc(d.str_len + 1);
        memcpy(d.str, json_string_value(c), d.str_len + 1);
    } else
        return lr_errorf(err, "%s: unsupported decoder type \"%s\"", what, type);
    t->decs = lr_xrealloc(t->decs, (t->n_decs + 1) * sizeof *t->decs);
    t->decs[t->n_decs++] = d;
    return 0;
}

int tk_load_decoder(lr_tokenizer *t, json_t *j, const char *what, lr_error *err)
{
    if (!j || json_is_null(j)) return 0;
    t->has_decoder = true;
    return add_dec(t, j, what, err);
}

/* A list of strings (arbitrary bytes): token i is data[off[i], off[i + 1]). */
typedef struct { tk_buf data; size_t *off; size_t n, cap; } toklist;

/* End the token whose bytes were appended to l->data since the last one. */
static void list_end(toklist *l)
{
    l->off = lr_grow(l->off, &l->cap, l->n + 2, sizeof *l->off);
    if (l->n == 0) l->off[0] = 0;
    l->off[++l->n] = l->data.n;
}

static void list_push(toklist *l, const char *s, size_t n)
{
    if (l->n == 0) l->data.n = 0;
    tk_buf_add(&l->data, s, n);
    list_end(l);
}

static const char *tok_s(const toklist *l, size_t i) { return l->data.p + l->off[i]; }
static size_t tok_n(const toklist *l, size_t i) { return l->off[i + 1] - l->off[i]; }

static void list_free(toklist *l)
{
    free(l->data.p);
    free(l->off);
    memset(l, 0, sizeof *l);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static void flush_bytes(toklist *o, tk_buf *bytes)
{
    if (!bytes->n) return;
    size_t l;
    char *fixed = tk_utf8_sanitize(bytes->p, bytes->n, &l);
    if (!fixed) list_push(o, bytes->p, bytes->n);
    else
        for (size_t i = 0; i < bytes->n; i++) list_push(o, "\xEF\xBF\xBD", 3);
    free(fixed);
    bytes->n = 0;
}

static void run_decoder(const tk_dec *d, toklist *in, toklist *o)
{
    switch (d->type) {
    case TK_D_BYTELEVEL: {
        tk_buf all = {0};
        for (size_t i = 0; i < in->n; i++) {
            const unsigned char *u = (const unsigned char *)tok_s(in, i);
            size_t n = tok_n(in, i), start = all.n;
            bool ok = true;
            for (size_t k = 0; k < n && ok;) {
                size_t l = lr_utf8_valid_len(u + k, n - k);
                int32_t cp;
                if (!l) { ok = false; break; }
                tk_utf8_decode(u + k, &cp);
                int b = tk_cp_to_byte(cp);
                if (b < 0) { ok = false; break; }
                char c = (char)b;
                tk_buf_add(&all, &c, 1);
                k += l;
            }
            if (!ok) { all.n = start; tk_buf_add(&all, tok_s(in, i), n); }
        }
        list_push(o, all.p ? all.p : "", all.n);
        free(all.p);
        break;
    }
    case TK_D_METASPACE:
        for (size_t i = 0; i < in->n; i++) {
            const unsigned char *u = (const unsigned char *)tok_s(in, i);
            for (size_t k = 0; k < tok_n(in, i);) {
                size_t l = lr_utf8_valid_len(u + k, tok_n(in, i) - k);
                int32_t cp = -1;
                if (l) tk_utf8_decode(u + k, &cp);
                else l = 1;
                if (cp == d->repl_cp) {
                    if (!(i == 0 && d->prepend)) tk_buf_add(&o->data, " ", 1);
                } else
                    tk_buf_add(&o->data, u + k, l);
                k += l;
            }
            list_end(o);
        }
        break;
    case TK_D_BYTEFALLBACK: {
        tk_buf bytes = {0};
        for (size_t i = 0; i < in->n; i++) {
            const char *s = tok_s(in, i);
            if (tok_n(in, i) == 6 && !memcmp(s, "<0x", 3) && s[5] == '>' && hexval(s[3]) >= 0 && hexval(s[4]) >= 0) {
                char c = (char)(hexval(s[3]) * 16 + hexval(s[4]));
                tk_buf_add(&bytes, &c, 1);
                continue;
            }
            flush_bytes(o, &bytes);
            list_push(o, s, tok_n(in, i));
        }
        flush_bytes(o, &bytes);
        free(bytes.p);
        break;
    }
    case TK_D_FUSE: {
        tk_buf all = {0};
        for (size_t i = 0; i < in->n; i++) tk_buf_add(&all, tok_s(in, i), tok_n(in, i));
        list_push(o, all.p ? all.p : "", all.n);
        free(all.p);
        break;
    }
    case TK_D_STRIP:
        for (size_t i = 0; i < in->n; i++) {
            const char *s = tok_s(in, i);
            size_t a = 0, b = tok_n(in, i), cl = d->str_len;
            for (int k = 0; k < d->start && cl && b - a >= cl && !memcmp(s + a, d->str, cl); k++) a += cl;
            for (int k = 0; k < d->stop && cl && b - a >= cl && !memcmp(s + b - cl, d->str, cl); k++) b -= cl;
            list_push(o, s + a, b - a);
        }
        break;
    case TK_D_REPLACE:
        for (size_t i = 0; i < in->n; i++) {
            const char *s = tok_s(in, i);
            size_t n = tok_n(in, i), pos = 0;
            if (d->pat.re.code) {
                /* Regex replacement: rarely used, matched per token. */
                tk_match_ctx mc = {0};
                size_t ms, me;
                while (tk_regex_next(&d->pat.re, &mc, s, n, pos, &ms, &me, NULL) == 1) {
                    tk_buf_add(&o->data, s + pos, ms - pos);
                    tk_buf_add(&o->data, d->str, d->str_len);
                    pos = me;
                }
                tk_match_ctx_free(&mc);
            } else if (d->pat.str_len) {
                const char *f;
                while (pos < n && (f = memmem(s + pos, n - pos, d->pat.str, d->pat.str_len))) {
                    tk_buf_add(&o->data, s + pos, (size_t)(f - (s + pos)));
                    tk_buf_add(&o->data, d->str, d->str_len);
                    pos = (size_t)(f - s) + d->pat.str_len;
                }
            }
            tk_buf_add(&o->data, s + pos, n - pos);
            list_end(o);
        }
        break;
    }
}

char *lr_detokenize(const lr_tokenizer *t, const int32_t *ids, size_t n, bool skip_special)
{
    toklist cur = {0}, nxt = {0};
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->vocab_size) continue;
        if (skip_special && t->is_special[id]) continue;
        const char *s = lr_tokenizer_token(t, id);
        if (s) list_push(&cur, s, strlen(s));
    }
    for (size_t k = 0; k < t->n_decs; k++) {
        run_decoder(&t->decs[k], &cur, &nxt);
        list_free(&cur);
        cur = nxt;
        nxt = (toklist){0};
    }
    tk_buf all = {0};
    for (size_t i = 0; i < cur.n; i++) {
        if (i && !t->has_decoder) tk_buf_add(&all, " ", 1);
        tk_buf_add(&all, tok_s(&cur, i), tok_n(&cur, i));
    }
    list_free(&cur);
    size_t l;
    char *fixed = tk_utf8_sanitize(all.p ? all.p : "", all.n, &l);
    if (fixed) { free(all.p); return fixed; }
    tk_buf_reserve(&all, 0);
    all.p[all.n] = 0;
    return all.p;
}
