/* tokenizer-text.c - UTF-8, regexes, normalizers and pre-tokenizers of
 * Hugging Face tokenizers, with the same splitting semantics as the Rust
 * `tokenizers` crate (SplitDelimiterBehavior, Metaspace prepend schemes). */
#define _GNU_SOURCE 1 /* memmem */
#include "config.h"
#include "text/tokenizer-internal.h"

#include <jansson.h>
#include <utf8proc.h>

/* ---------------------------------------------------------------- buffers */

void tk_buf_reserve(tk_buf *b, size_t extra)
{
    b->p = lr_grow(b->p, &b->cap, b->n + extra + 1, 1);
}

void tk_buf_add(tk_buf *b, const void *s, size_t n)
{
    tk_buf_reserve(b, n);
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
}

/* ---------------------------------------------------------------- UTF-8 */

size_t tk_utf8_decode(const unsigned char *s, int32_t *cp)
{
    unsigned c = s[0];
    if (c < 0x80) { *cp = (int32_t)c; return 1; }
    if (c < 0xE0) { *cp = (int32_t)(((c & 0x1F) << 6) | (s[1] & 0x3F)); return 2; }
    if (c < 0xF0) {
        *cp = (int32_t)(((c & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F));
        return 3;
    }
    *cp = (int32_t)(((c & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F));
    return 4;
}

size_t tk_utf8_encode(int32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { o[0] = 0xC0 | (cp >> 6); o[1] = 0x80 | (cp & 0x3F); return 2; }
    if (cp < 0x10000) {
        o[0] = 0xE0 | (cp >> 12); o[1] = 0x80 | ((cp >> 6) & 0x3F); o[2] = 0x80 | (cp & 0x3F);
        return 3;
    }
    o[0] = 0xF0 | (cp >> 18); o[1] = 0x80 | ((cp >> 12) & 0x3F);
    o[2] = 0x80 | ((cp >> 6) & 0x3F); o[3] = 0x80 | (cp & 0x3F);
    return 4;
}

char *tk_utf8_sanitize(const char *s, size_t n, size_t *out_len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    /* Fast scan: most text is valid. */
    while (i < n) {
        if (u[i] < 0x80) { i++; continue; }
        long r = lr_utf8_check(u + i, n - i);
        if (r < 0) break;
        i += (size_t)r;
    }
    if (i == n) return NULL;
    tk_buf b = {0};
    tk_buf_add(&b, s, i);
    while (i < n) {
        long r = lr_utf8_check(u + i, n - i);
        if (r > 0) { tk_buf_add(&b, s + i, (size_t)r); i += (size_t)r; }
        else { tk_buf_add(&b, "\xEF\xBF\xBD", 3); i += (size_t)(-r); }
    }
    b.p[b.n] = 0;
    *out_len = b.n;
    return b.p;
}

bool tk_is_whitespace(int32_t c)
{
    return (c >= 9 && c <= 13) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

bool tk_is_numeric(int32_t c)
{
    if (c < 0x80) return c >= '0' && c <= '9';
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

bool tk_is_word(int32_t c)
{
    if (c < 0x80) return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z') || c == '_';
    if (c == 0x200C || c == 0x200D) return true;   /* Join_Control */
    utf8proc_category_t k = utf8proc_category(c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_ME) || k == UTF8PROC_CATEGORY_ND ||
           k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_PC;
}

/* ---------------------------------------------------------------- regexes */

int tk_regex_compile(tk_regex *re, const char *pattern, size_t len, const char *what, lr_error *err)
{
    int ec;
    PCRE2_SIZE eo;
    re->code = pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    if (!re->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return lr_errorf(err, "%s: regex at offset %zu: %s", what, (size_t)eo, (char *)msg);
    }
    re->jit = pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0;
    return 0;
}

void tk_regex_free(tk_regex *re)
{
    if (re->code) pcre2_code_free(re->code);
    re->code = NULL;
}

void tk_match_ctx_free(tk_match_ctx *m)
{
    if (m->md) pcre2_match_data_free(m->md);
    if (m->stack) pcre2_jit_stack_free(m->stack);
    if (m->mctx) pcre2_match_context_free(m->mctx);
    memset(m, 0, sizeof *m);
}

int tk_regex_next(const tk_regex *re, tk_match_ctx *m, const char *s, size_t n, size_t pos,
                  size_t *ms, size_t *me, lr_error *err)
{
    if (!m->md) m->md = pcre2_match_data_create(4, NULL);
    while (pos <= n) {
        int rc;
        for (;;) {
            if (re->jit)
                rc = pcre2_jit_match(re->code, (PCRE2_SPTR)s, n, pos, 0, m->md, m->mctx);
            else
                rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, m->md, m->mctx);
            if (rc != PCRE2_ERROR_JIT_STACKLIMIT || m->stack) break;
            /* Long runs can need more than the default 32 KiB JIT stack. */
            if (!m->mctx) m->mctx = pcre2_match_context_create(NULL);
            m->stack = pcre2_jit_stack_create(64 * 1024, 256 * 1024 * 1024, NULL);
            pcre2_jit_stack_assign(m->mctx, NULL, m->stack);
        }
        if (rc == PCRE2_ERROR_NOMATCH) return 0;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return lr_errorf(err, "regex match failed: %s", (char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m->md);
        if (ov[1] > ov[0]) { *ms = ov[0]; *me = ov[1]; return 1; }
        /* Empty match: continue one character further. */
        if (ov[0] >= n) return 0;
        size_t l = lr_utf8_valid_len((const unsigned char *)s + ov[0], n - ov[0]);
        pos = ov[0] + (l ? l : 1);
    }
    return 0;
}

/* ---------------------------------------------------------------- patterns */

int tk_load_pattern(tk_pattern *p, json_t *j, const char *what, lr_error *err)
{
    memset(p, 0, sizeof *p);
    json_t *s = json_object_get(j, "String"), *r = json_object_get(j, "Regex");
    if (json_is_string(s)) {
        p->str_len = json_string_length(s);
        p->str = lr_xmalloc(p->str_len + 1);
        memcpy(p->str, json_string_value(s), p->str_len + 1);
        return 0;
    }
    if (json_is_string(r))
        return tk_regex_compile(&p->re, json_string_value(r), json_string_length(r), what, err);
    return lr_errorf(err, "%s: pattern is neither {\"String\"} nor {\"Regex\"}", what);
}

void tk_pattern_free(tk_pattern *p)
{
    free(p->str);
    tk_regex_free(&p->re);
}

/* Next occurrence of the pattern in s[pos..n). */
static int pattern_next(const tk_pattern *p, tk_match_ctx *mc, const char *s, size_t n, size_t pos,
                        size_t *ms, size_t *me, lr_error *err)
{
    if (p->re.code) return tk_regex_next(&p->re, mc, s, n, pos, ms, me, err);
    if (p->str_len == 0 || pos >= n) return 0;
    const char *f = memmem(s + pos, n - pos, p->str, p->str_len);
    if (!f) return 0;
    *ms = (size_t)(f - s);
    *me = *ms + p->str_len;
    return 1;
}

/* ---------------------------------------------------------------- normalizers */

static bool all_ascii(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, u + i, 8);
        if (w & 0x8080808080808080ULL) return false;
    }
    for (; i < n; i++)
        if (u[i] & 0x80) return false;
    return true;
}

static void swap_buf(tk_buf *a, tk_buf *b)
{
    tk_buf t = *a;
    *a = *b;
    *b = t;
}

int tk_normalize(const lr_tokenizer *t, const char *s, size_t n, tk_buf *out, tk_buf *tmp,
                 tk_match_ctx *mc, lr_error *err)
{
    out->n = 0;
    tk_buf_add(out, s, n);
    for (size_t k = 0; k < t->n_norms; k++) {
        const tk_norm *nm = &t->norms[k];
        tmp->n = 0;
        switch (nm->type) {
        case TK_N_NFC: case TK_N_NFD: case TK_N_NFKC: case TK_N_NFKD: {
            if (all_ascii(out->p, out->n)) continue;
            int opt = UTF8PROC_STABLE;
            if (nm->type == TK_N_NFC || nm->type == TK_N_NFKC) opt |= UTF8PROC_COMPOSE;
            else opt |= UTF8PROC_DECOMPOSE;
            if (nm->type == TK_N_NFKC || nm->type == TK_N_NFKD) opt |= UTF8PROC_COMPAT;
            utf8proc_uint8_t *dst = NULL;
            utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)out->p,
                                              (utf8proc_ssize_t)out->n, &dst, opt);
            if (r < 0) {
                free(dst);
                return lr_errorf(err, "%s: Unicode normalization failed: %s", t->what,
                                 utf8proc_errmsg(r));
            }
            tk_buf_add(tmp, dst, (size_t)r);
            free(dst);
            break;
        }
        case TK_N_PREPEND:
            if (out->n == 0) continue;
            tk_buf_add(tmp, nm->str, nm->str_len);
            tk_buf_add(tmp, out->p, out->n);
            break;
        case TK_N_REPLACE: {
            size_t pos = 0, ms, me;
            int r;
            while ((r = pattern_next(&nm->pat, mc, out->p, out->n, pos, &ms, &me, err)) == 1) {
                tk_buf_add(tmp, out->p + pos, ms - pos);
                tk_buf_add(tmp, nm->str, nm->str_len);
                pos = me;
            }
            if (r < 0) return -1;
            tk_buf_add(tmp, out->p + pos, out->n - pos);
            break;
        }
        case TK_N_LOWERCASE: {
            const unsigned char *u = (const unsigned char *)out->p;
            tk_buf_reserve(tmp, out->n);
            for (size_t i = 0; i < out->n;) {
                int32_t cp;
                i += tk_utf8_decode(u + i, &cp);
                char e[4];
                int32_t lc = cp < 0x80 ? (cp >= 'A' && cp <= 'Z' ? cp + 32 : cp) : utf8proc_tolower(cp);
                tk_buf_add(tmp, e, tk_utf8_encode(lc, e));
            }
            break;
        }
        case TK_N_STRIP: {
            const unsigned char *u = (const unsigned char *)out->p;
            size_t a = 0, b = out->n;
            if (nm->left)
                while (a < b) {
                    int32_t cp;
                    size_t l = tk_utf8_decode(u + a, &cp);
                    if (!tk_is_whitespace(cp)) break;
                    a += l;
                }
            if (nm->right)
                while (b > a) {
                    size_t st = b - 1;
                    while (st > a && (u[st] & 0xC0) == 0x80) st--;
                    int32_t cp;
                    tk_utf8_decode(u + st, &cp);
                    if (!tk_is_whitespace(cp)) break;
                    b = st;
                }
            tk_buf_add(tmp, out->p + a, b - a);
            break;
        }
        }
        swap_buf(out, tmp);
    }
    tk_buf_reserve(out, 0);
    out->p[out->n] = 0;
    return 0;
}

static int add_norm(lr_tokenizer *t, json_t *j, const char *what, lr_error *err)
{
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!type) return lr_errorf(err, "%s: normalizer without a type", what);
    if (!strcmp(type, "Sequence")) {
        json_t *a = json_object_get(j, "normalizers"), *x;
        size_t i;
        if (!json_is_array(a)) return lr_errorf(err, "%s: Sequence normalizer without \"normalizers\"", what);
        json_array_foreach(a, i, x)
            if (add_norm(t, x, what, err)) return -1;
        return 0;
    }
    tk_norm nm;
    memset(&nm, 0, sizeof nm);
    if (!strcmp(type, "NFC")) nm.type = TK_N_NFC;
    else if (!strcmp(type, "NFD")) nm.type = TK_N_NFD;
    else if (!strcmp(type, "NFKC")) nm.type = TK_N_NFKC;
    else if (!strcmp(type, "NFKD")) nm.type = TK_N_NFKD;
    else if (!strcmp(type, "Lowercase")) nm.type = TK_N_LOWERCASE;
    else if (!strcmp(type, "Strip")) {
        nm.type = TK_N_STRIP;
        nm.left = json_is_true(json_object_get(j, "strip_left"));
        nm.right = json_is_true(json_object_get(j, "strip_right"));
    } else if (!strcmp(type, "Prepend")) {
        json_t *p = json_object_get(j, "prepend");
        if (!json_is_string(p)) return lr_errorf(err, "%s: Prepend normalizer without \"prepend\"", what);
        nm.type = TK_N_PREPEND;
        nm.str_len = json_string_length(p);
        nm.str = lr_xmalloc(nm.str_len + 1);
        memcpy(nm.str, json_string_value(p), nm.str_len + 1);
    } else if (!strcmp(type, "Replace")) {
        json_t *c = json_object_get(j, "content");
        if (!json_is_string(c)) return lr_errorf(err, "%s: Replace normalizer without \"content\"", what);
        if (tk_load_pattern(&nm.pat, json_object_get(j, "pattern"), what, err)) return -1;
        nm.type = TK_N_REPLACE;
        nm.str_len = json_string_length(c);
        nm.str = lr_xmalloc(nm.str_len + 1);
        memcpy(nm.str, json_string_value(c), nm.str_len + 1);
    } else
        return lr_errorf(err, "%s: unsupported normalizer type \"%s\"", what, type);
    t->norms = lr_xrealloc(t->norms, (t->n_norms + 1) * sizeof *t->norms);
    t->norms[t->n_norms++] = nm;
    return 0;
}

int tk_load_normalizer(lr_tokenizer *t, json_t *j, const char *what, lr_error *err)
{
    if (!j || json_is_null(j)) return 0;
    return add_norm(t, j, what, err);
}

/* ---------------------------------------------------------------- pre-tokenizers */

static const char GPT2_REGEX[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static int parse_behavior(json_t *j, tk_split_behavior *b, const char *what, lr_error *err)
{
    const char *s = json_string_value(j);
    if (!s) return lr_errorf(err, "%s: Split without \"behavior\"", what);
    if (!strcmp(s, "Removed")) *b = TK_SPLIT_REMOVED;
    else if (!strcmp(s, "Isolated")) *b = TK_SPLIT_ISOLATED;
    else if (!strcmp(s, "MergedWithPrevious")) *b = TK_SPLIT_MERGED_PREV;
    else if (!strcmp(s, "MergedWithNext")) *b = TK_SPLIT_MERGED_NEXT;
    else if (!strcmp(s, "Contiguous")) *b = TK_SPLIT_CONTIGUOUS;
    else return lr_errorf(err, "%s: unsupported Split behavior \"%s\"", what, s);
    return 0;
}

static tk_prepend_scheme metaspace_scheme(json_t *j)
{
    const char *s = json_string_value(json_object_get(j, "prepend_scheme"));
    if (s) {
        if (!strcmp(s, "first")) return TK_PREPEND_FIRST;
        if (!strcmp(s, "never")) return TK_PREPEND_NEVER;
        return TK_PREPEND_ALWAYS;
    }
    json_t *a = json_object_get(j, "add_prefix_space");
    return (a && json_is_false(a)) ? TK_PREPEND_NEVER : TK_PREPEND_ALWAYS;
}

static int metaspace_repl(json_t *j, char *repl, size_t *len, int32_t *cp, const char *what, lr_error *err)
{
    json_t *r = json_object_get(j, "replacement");
    const char *s = r ? json_string_value(r) : "\xE2\x96\x81";
    size_t n = s ? strlen(s) : 0;
    if (!s || n == 0 || n > 4 || lr_utf8_valid_len((const unsigned char *)s, n) != n)
        return lr_errorf(err, "%s: Metaspace \"replacement\" must be one character", what);
    memcpy(repl, s, n);
    *len = n;
    tk_utf8_decode((const unsigned char *)s, cp);
    return 0;
}

static int add_pretok(lr_tokenizer *t, json_t *j, const char *what, lr_error *err)
{
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!type) return lr_errorf(err, "%s: pre-tokenizer without a type", what);
    if (!strcmp(type, "Sequence")) {
        json_t *a = json_object_get(j, "pretokenizers"), *x;
        size_t i;
        if (!json_is_array(a)) return lr_errorf(err, "%s: Sequence pre-tokenizer without \"pretokenizers\"", what);
        json_array_foreach(a, i, x)
            if (add_pretok(t, x, what, err)) return -1;
        return 0;
    }
    if (t->bpe.byte_level)
        return lr_errorf(err, "%s: unsupported pre-tokenizer \"%s\" after ByteLevel", what, type);
    tk_pretok p;
    memset(&p, 0, sizeof p);
    if (!strcmp(type, "Split")) {
        p.type = TK_P_SPLIT;
        if (parse_behavior(json_object_get(j, "behavior"), &p.behavior, what, err)) return -1;
        p.invert = json_is_true(json_object_get(j, "invert"));
        if (tk_load_pattern(&p.pat, json_object_get(j, "pattern"), what, err)) return -1;
    } else if (!strcmp(type, "ByteLevel")) {
        p.type = TK_P_BYTELEVEL;
        p.add_prefix_space = json_is_true(json_object_get(j, "add_prefix_space"));
        json_t *ur = json_object_get(j, "use_regex");
        p.has_regex = !ur || json_is_true(ur);
        p.behavior = TK_SPLIT_ISOLATED;
        if (p.has_regex && tk_regex_compile(&p.pat.re, GPT2_REGEX, sizeof GPT2_REGEX - 1, what, err))
            return -1;
        t->bpe.byte_level = true;
    } else if (!strcmp(type, "Metaspace")) {
        p.type = TK_P_METASPACE;
        if (metaspace_repl(j, p.repl, &p.repl_len, &p.repl_cp, what, err)) return -1;
        p.prepend = metaspace_scheme(j);
        json_t *sp = json_object_get(j, "split");
        p.split = !sp || json_is_true(sp);
    } else if (!strcmp(type, "Digits")) {
        p.type = TK_P_DIGITS;
        p.individual = json_is_true(json_object_get(j, "individual_digits"));
    } else if (!strcmp(type, "WhitespaceSplit")) {
        p.type = TK_P_WHITESPACE_SPLIT;
    } else if (!strcmp(type, "Whitespace")) {
        static const char WS[] = "\\w+|[^\\w\\s]+";
        p.type = TK_P_SPLIT;
        p.behavior = TK_SPLIT_REMOVED;
        p.invert = true;
        if (tk_regex_compile(&p.pat.re, WS, sizeof WS - 1, what, err)) return -1;
    } else
        return lr_errorf(err, "%s: unsupported pre-tokenizer type \"%s\"", what, type);
    t->pretoks = lr_xrealloc(t->pretoks, (t->n_pretoks + 1) * sizeof *t->pretoks);
    t->pretoks[t->n_pretoks++] = p;
    return 0;
}

int tk_load_pretokenizer(lr_tokenizer *t, json_t *j, const char *what, lr_error *err)
{
    if (!j || json_is_null(j)) return 0;
    return add_pretok(t, j, what, err);
}

/* A split of a piece: [s, e) and whether it is a match. */
typedef struct { size_t s, e; bool m; } tk_span;
typedef struct { tk_span *v; size_t n, cap; } tk_spans;

static void spans_push(tk_spans *sp, size_t s, size_t e, bool m)
{
    sp->v = lr_grow(sp->v, &sp->cap, sp->n + 1, sizeof *sp->v);
    sp->v[sp->n++] = (tk_span){s, e, m};
}

static void pieces_push(tk_pieces *p, size_t off, size_t len, bool at_start)
{
    if (len == 0) return;
    p->v = lr_grow(p->v, &p->cap, p->n + 1, sizeof *p->v);
    p->v[p->n++] = (tk_piece){off, len, at_start};
}

typedef enum { PRED_NUMERIC, PRED_WHITESPACE, PRED_CHAR } tk_pred;

/* Matches of a character predicate: each matching character is one match. */
static void char_spans(const char *s, size_t n, tk_pred pred, int32_t ch, tk_spans *sp)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t prev = 0;
    for (size_t i = 0; i < n;) {
        int32_t cp;
        size_t l = tk_utf8_decode(u + i, &cp);
        bool m = pred == PRED_NUMERIC ? tk_is_numeric(cp)
               : pred == PRED_WHITESPACE ? tk_is_whitespace(cp) : cp == ch;
        if (m) {
            if (prev != i) spans_push(sp, prev, i, false);
            spans_push(sp, i, i + l, true);
            prev = i + l;
        }
        i += l;
    }
    if (prev != n) spans_push(sp, prev, n, false);
}

/* Turn matches into pieces as SplitDelimiterBehavior does. */
static void apply_behavior(tk_spans *sp, tk_split_behavior b, bool invert, size_t base,
                           bool at_start, tk_pieces *out)
{
    if (invert)
        for (size_t i = 0; i < sp->n; i++) sp->v[i].m = !sp->v[i].m;
    size_t first = out->n;
    switch (b) {
    case TK_SPLIT_REMOVED:
        for (size_t i = 0; i < sp->n; i++)
            if (!sp->v[i].m) pieces_push(out, base + sp->v[i].s, sp->v[i].e - sp->v[i].s, false);
        break;
    case TK_SPLIT_ISOLATED:
        for (size_t i = 0; i < sp->n; i++)
            pieces_push(out, base + sp->v[i].s, sp->v[i].e - sp->v[i].s, false);
        break;
    case TK_SPLIT_MERGED_PREV: case TK_SPLIT_CONTIGUOUS: {
        /* Merge into the previous piece: a match after a non-match
         * (MergedWithPrevious), or equal kinds (Contiguous). */
        size_t k = 0;
        bool prev_m = false;
        for (size_t i = 0; i < sp->n; i++) {
            bool m = sp->v[i].m;
            bool merge = b == TK_SPLIT_MERGED_PREV ? (m && !prev_m) : (m == prev_m);
            if (merge && k > 0) sp->v[k - 1].e = sp->v[i].e;
            else sp->v[k++] = sp->v[i];
            prev_m = m;
        }
        for (size_t i = 0; i < k; i++)
            pieces_push(out, base + sp->v[i].s, sp->v[i].e - sp->v[i].s, false);
        break;
    }
    case TK_SPLIT_MERGED_NEXT: {
        /* Walk backwards: a match is merged into the following non-match. */
        size_t k = sp->n;   /* result occupies v[k..n) in forward order */
        bool next_m = false;
        for (size_t i = sp->n; i-- > 0;) {
            tk_span x = sp->v[i];
            if (x.m && !next_m && k < sp->n) sp->v[k].s = x.s;
            else sp->v[--k] = x;
            next_m = x.m;
        }
        for (size_t i = k; i < sp->n; i++)
            pieces_push(out, base + sp->v[i].s, sp->v[i].e - sp->v[i].s, false);
        break;
    }
    }
    if (at_start && out->n > first && out->v[first].off == base) out->v[first].at_start = true;
}

int tk_pretokenize(const lr_tokenizer *t, tk_buf *arena, tk_pieces *pieces, tk_pieces *tmp,
                   tk_match_ctx *mc, lr_error *err)
{
    tk_spans sp = {0};
    int rc = 0;
    for (size_t k = 0; k < t->n_pretoks && rc == 0; k++) {
        const tk_pretok *p = &t->pretoks[k];
        if (p->type == TK_P_BYTELEVEL && !p->add_prefix_space && !p->has_regex) continue;
        tmp->n = 0;
        for (size_t i = 0; i < pieces->n; i++) {
            tk_piece pc = pieces->v[i];
            sp.n = 0;
            switch (p->type) {
            case TK_P_BYTELEVEL:
                if (p->add_prefix_space && arena->p[pc.off] != ' ') {
                    tk_buf_reserve(arena, pc.len + 1);
                    size_t off = arena->n;
                    arena->p[arena->n++] = ' ';
                    tk_buf_add(arena, arena->p + pc.off, pc.len);
                    pc.off = off;
                    pc.len++;
                }
                if (!p->has_regex) { pieces_push(tmp, pc.off, pc.len, pc.at_start); continue; }
                __attribute__((fallthrough));   /* split with the GPT-2 regex */
            case TK_P_SPLIT: {
                size_t pos = 0, ms, me;
                const char *s = arena->p + pc.off;
                int r;
                while ((r = pattern_next(&p->pat, mc, s, pc.len, pos, &ms, &me, err)) == 1) {
                    if (ms != pos) spans_push(&sp, pos, ms, false);
                    spans_push(&sp, ms, me, true);
                    pos = me;
                }
                if (r < 0) { rc = -1; goto done; }
                if (pos != pc.len) spans_push(&sp, pos, pc.len, false);
                apply_behavior(&sp, p->behavior, p->invert, pc.off, pc.at_start, tmp);
                break;
            }
            case TK_P_METASPACE: {
                /* Replace spaces, prepend the replacement, split before it. */
                tk_buf_reserve(arena, (pc.len + 1) * 4);
                size_t off = arena->n;
                bool starts = pc.len >= p->repl_len && !memcmp(arena->p + pc.off, p->repl, p->repl_len);
                bool starts_space = pc.len > 0 && arena->p[pc.off] == ' ';
                if (!starts && !starts_space &&
                    (p->prepend == TK_PREPEND_ALWAYS || (p->prepend == TK_PREPEND_FIRST && pc.at_start)))
                    tk_buf_add(arena, p->repl, p->repl_len);
                for (size_t q = 0; q < pc.len; q++) {
                    char c = arena->p[pc.off + q];
                    if (c == ' ') tk_buf_add(arena, p->repl, p->repl_len);
                    else arena->p[arena->n++] = c;
                }
                tk_piece np = {off, arena->n - off, pc.at_start};
                if (!p->split) { pieces_push(tmp, np.off, np.len, np.at_start); break; }
                char_spans(arena->p + np.off, np.len, PRED_CHAR, p->repl_cp, &sp);
                apply_behavior(&sp, TK_SPLIT_MERGED_NEXT, false, np.off, np.at_start, tmp);
                break;
            }
            case TK_P_DIGITS:
                char_spans(arena->p + pc.off, pc.len, PRED_NUMERIC, 0, &sp);
                apply_behavior(&sp, p->individual ? TK_SPLIT_ISOLATED : TK_SPLIT_CONTIGUOUS, false,
                               pc.off, pc.at_start, tmp);
                break;
            case TK_P_WHITESPACE_SPLIT:
                char_spans(arena->p + pc.off, pc.len, PRED_WHITESPACE, 0, &sp);
                apply_behavior(&sp, TK_SPLIT_REMOVED, false, pc.off, pc.at_start, tmp);
                break;
            }
        }
        tk_pieces x = *pieces;
        *pieces = *tmp;
        *tmp = x;
    }
done:
    free(sp.v);
    return rc;
}
