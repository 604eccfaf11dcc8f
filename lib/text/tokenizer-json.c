/* tokenizer-json.c - fast path for the two large values of tokenizer.json.
 *
 * A Qwen-sized tokenizer.json (11 MB: 151k vocabulary entries, 151k merges)
 * costs jansson about half a second, mostly allocating one JSON value per
 * string.  Here model.vocab and model.merges are located by a structural
 * scan and parsed strictly into flat lists; the rest of the document, with
 * those two values replaced by {} and [], still goes through jansson.  Any
 * surprise (unusual layout, a syntax error) makes the caller fall back to
 * jansson for the whole document, which then reports errors precisely. */
#include "config.h"
#include "text/tokenizer-internal.h"

typedef struct cur {
    const char *p, *end;
} cur;

static void ws(cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t')) c->p++;
}

static bool lit(cur *c, char ch)
{
    ws(c);
    if (c->p < c->end && *c->p == ch) { c->p++; return true; }
    return false;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char h = p[i];
        int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Parse a JSON string into out (appended, NUL-terminated); false on error. */
static bool str(cur *c, tk_buf *out, size_t *off, uint32_t *len)
{
    ws(c);
    if (c->p >= c->end || *c->p != '"') return false;
    c->p++;
    *off = out->n;
    for (;;) {
        const char *q = c->p;
        while (q < c->end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20) q++;
        if (q >= c->end || (unsigned char)*q < 0x20) return false;
        /* Validate UTF-8 of the raw run (ASCII is the common case). */
        for (const char *r = c->p; r < q;) {
            if ((unsigned char)*r < 0x80) { r++; continue; }
            size_t l = lr_utf8_valid_len((const unsigned char *)r, (size_t)(q - r));
            if (!l) return false;
            r += l;
        }
        tk_buf_add(out, c->p, (size_t)(q - c->p));
        c->p = q + 1;
        if (*q == '"') break;
        if (c->p >= c->end) return false;
        char e = *c->p++, ch;
        switch (e) {
        case '"': ch = '"'; break;
        case '\\': ch = '\\'; break;
        case '/': ch = '/'; break;
        case 'b': ch = '\b'; break;
        case 'f': ch = '\f'; break;
        case 'n': ch = '\n'; break;
        case 'r': ch = '\r'; break;
        case 't': ch = '\t'; break;
        case 'u': {
            if (c->end - c->p < 4) return false;
            int32_t cp = hex4(c->p);
            if (cp < 0) return false;
            c->p += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return false;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u') return false;
                int lo = hex4(c->p + 2);
                if (lo < 0xDC00 || lo > 0xDFFF) return false;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                c->p += 6;
            }
            if (cp == 0) return false;   /* NUL inside a token: leave it to jansson */
            char u[4];
            tk_buf_add(out, u, tk_utf8_encode(cp, u));
            continue;
        }
        default: return false;
        }
        tk_buf_add(out, &ch, 1);
    }
    *len = (uint32_t)(out->n - *off);
    char z = 0;
    tk_buf_add(out, &z, 1);
    return true;
}

static bool integer(cur *c, int64_t *v)
{
    ws(c);
    const char *p = c->p;
    bool neg = p < c->end && *p == '-';
    if (neg) p++;
    if (p >= c->end || *p < '0' || *p > '9') return false;
    int64_t x = 0;
    while (p < c->end && *p >= '0' && *p <= '9') {
        if (x > INT64_MAX / 16) return false;
        x = x * 10 + (*p++ - '0');
    }
    if (p < c->end && (*p == '.' || *p == 'e' || *p == 'E')) return false;
    c->p = p;
    *v = neg ? -x : x;
    return true;
}

/* Skip any JSON value (structure only; jansson validates what is kept). */
static bool skip(cur *c, int depth)
{
    ws(c);
    if (c->p >= c->end || depth > 200) return false;
    char ch = *c->p;
    if (ch == '"') {
        c->p++;
        while (c->p < c->end && *c->p != '"') c->p += *c->p == '\\' ? 2 : 1;
        if (c->p >= c->end) return false;
        c->p++;
        return true;
    }
    if (ch == '{' || ch == '[') {
        char close = ch == '{' ? '}' : ']';
        c->p++;
        if (lit(c, close)) return true;
        do {
            if (ch == '{') {
                if (!skip(c, depth + 1) || !lit(c, ':')) return false;
            }
            if (!skip(c, depth + 1)) return false;
        } while (lit(c, ','));
        return lit(c, close);
    }
    const char *s = c->p;
    while (c->p < c->end && (strchr("+-.eE", *c->p) || (*c->p >= '0' && *c->p <= '9') ||
                             (*c->p >= 'a' && *c->p <= 'z')))
        c->p++;
    return c->p > s;
}

static bool parse_vocab(cur *c, tk_vocab_list *vl)
{
    if (!lit(c, '{')) return false;
    if (lit(c, '}')) return true;
    do {
        vl->v = lr_grow(vl->v, &vl->cap, vl->n + 1, sizeof *vl->v);
        tk_vent *e = &vl->v[vl->n];
        if (!str(c, &vl->pool, &e->off, &e->len) || !lit(c, ':') || !integer(c, &e->id)) return false;
        vl->n++;
    } while (lit(c, ','));
    return lit(c, '}');
}

static bool parse_merges(cur *c, tk_merge_list *ml)
{
    if (!lit(c, '[')) return false;
    if (lit(c, ']')) return true;
    do {
        ml->v = lr_grow(ml->v, &ml->cap, ml->n + 1, sizeof *ml->v);
        tk_ment *e = &ml->v[ml->n];
        ws(c);
        if (c->p < c->end && *c->p == '[') {
            c->p++;
            if (!str(c, &ml->pool, &e->a, &e->la) || !lit(c, ',') || !str(c, &ml->pool, &e->b, &e->lb) ||
                !lit(c, ']'))
                return false;
            e->pair = true;
        } else {
            if (!str(c, &ml->pool, &e->a, &e->la)) return false;
            e->pair = false;
        }
        ml->n++;
    } while (lit(c, ','));
    return lit(c, ']');
}

static bool key_is(cur *c, const char *name, bool *is)
{
    ws(c);
    const char *s = c->p;
    if (!skip(c, 0) || *s != '"') return false;
    size_t l = strlen(name);
    *is = (size_t)(c->p - s) == l + 2 && !memcmp(s + 1, name, l);
    return lit(c, ':');
}

char *tk_json_split_model(const char *s, size_t n, tk_vocab_list *vl, tk_merge_list *ml, size_t *out_len)
{
    cur c = {s, s + n};
    const char *vs = NULL, *ve = NULL, *ms = NULL, *me = NULL;
    bool is;
    if (!lit(&c, '{')) return NULL;
    if (lit(&c, '}')) return NULL;
    do {
        if (!key_is(&c, "model", &is)) return NULL;
        if (!is) {
            if (!skip(&c, 0)) return NULL;
            continue;
        }
        if (!lit(&c, '{')) return NULL;
        if (lit(&c, '}')) return NULL;
        do {
            bool isv, ism;
            const char *k = c.p;
            if (!key_is(&c, "vocab", &isv)) return NULL;
            cur c2 = {k, c.end};
            if (!key_is(&c2, "merges", &ism)) return NULL;
            ws(&c);
            const char *vstart = c.p;
            if (isv && !vs) {
                if (!parse_vocab(&c, vl)) return NULL;
                vs = vstart;
                ve = c.p;
            } else if (ism && !ms) {
                if (!parse_merges(&c, ml)) return NULL;
                ms = vstart;
                me = c.p;
            } else if (!skip(&c, 0))
                return NULL;
        } while (lit(&c, ','));
        if (!lit(&c, '}')) return NULL;
    } while (lit(&c, ','));
    if (!lit(&c, '}') || !vs || !ms) return NULL;
    /* Copy the document with the two values emptied. */
    const char *a = vs < ms ? vs : ms, *ae = vs < ms ? ve : me;
    const char *b = vs < ms ? ms : vs, *be = vs < ms ? me : ve;
    char *out = lr_xmalloc(n + 8), *o = out;
    memcpy(o, s, (size_t)(a - s)); o += a - s;
    memcpy(o, a == vs ? "{}" : "[]", 2); o += 2;
    memcpy(o, ae, (size_t)(b - ae)); o += b - ae;
    memcpy(o, b == vs ? "{}" : "[]", 2); o += 2;
    memcpy(o, be, (size_t)(s + n - be)); o += s + n - be;
    *o = 0;
    *out_len = (size_t)(o - out);
    return out;
}
