/*
 * stream.c - msgpack streams: a header map followed by record maps.
 *
 * The generic layer (writer and incremental reader) is shared by every
 * stream kind; the embeddings stream sits on top of it here.
 */
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <msgpack.h>

/* ------------------------------------------------------------------ */
/* writer                                                               */

struct lr_stream_writer {
    FILE *f;
    msgpack_packer pk;
    int pending;      /* fields still expected in the current map */
    bool failed;      /* sticky write error */
    int errnum;
};

static int sw_write(void *data, const char *buf, size_t len)
{
    lr_stream_writer *w = data;
    if (w->failed) return -1;
    if (len && fwrite(buf, 1, len, w->f) != len) {
        w->failed = true;
        w->errnum = errno ? errno : EIO;
        return -1;
    }
    return 0;
}

static int sw_error(lr_stream_writer *w, lr_error *err)
{
    return lr_errorf(err, "write error: %s", strerror(w->errnum ? w->errnum : EIO));
}

lr_stream_writer *lr_stream_writer_new(FILE *f, const char *kind, int version,
                                       int n_extra, lr_error *err)
{
    lr_stream_writer *w = lr_xcalloc(1, sizeof *w);
    w->f = f;
    msgpack_packer_init(&w->pk, w, sw_write);
    char name[64];
    snprintf(name, sizeof name, "lr.%s", kind);
    lr_sw_begin(w, 2 + n_extra);
    lr_sw_str(w, "stream", name);
    lr_sw_int(w, "version", version);
    if (w->failed) {
        sw_error(w, err);
        free(w);
        return NULL;
    }
    return w;
}

void lr_sw_begin(lr_stream_writer *w, int n_fields)
{
    w->pending = n_fields;
    msgpack_pack_map(&w->pk, (size_t)n_fields);
}

static void sw_key(lr_stream_writer *w, const char *key)
{
    size_t n = strlen(key);
    w->pending--;
    msgpack_pack_str(&w->pk, n);
    msgpack_pack_str_body(&w->pk, key, n);
}

void lr_sw_str(lr_stream_writer *w, const char *key, const char *val)
{
    size_t n = strlen(val);
    sw_key(w, key);
    msgpack_pack_str(&w->pk, n);
    msgpack_pack_str_body(&w->pk, val, n);
}

void lr_sw_int(lr_stream_writer *w, const char *key, int64_t val)
{
    sw_key(w, key);
    msgpack_pack_int64(&w->pk, val);
}

void lr_sw_float(lr_stream_writer *w, const char *key, double val)
{
    sw_key(w, key);
    msgpack_pack_double(&w->pk, val);
}

void lr_sw_bool(lr_stream_writer *w, const char *key, bool val)
{
    sw_key(w, key);
    if (val) msgpack_pack_true(&w->pk);
    else msgpack_pack_false(&w->pk);
}

void lr_sw_nil(lr_stream_writer *w, const char *key)
{
    sw_key(w, key);
    msgpack_pack_nil(&w->pk);
}

void lr_sw_bin(lr_stream_writer *w, const char *key, const void *data, size_t len)
{
    sw_key(w, key);
    msgpack_pack_bin(&w->pk, len);
    msgpack_pack_bin_body(&w->pk, data, len);
}

void lr_sw_f32(lr_stream_writer *w, const char *key, const float *v, size_t n)
{
    sw_key(w, key);
    msgpack_pack_bin(&w->pk, n * 4);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    msgpack_pack_bin_body(&w->pk, v, n * 4);
#else
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        u = __builtin_bswap32(u);
        msgpack_pack_bin_body(&w->pk, &u, 4);
    }
#endif
}

int lr_sw_end(lr_stream_writer *w, lr_error *err)
{
    if (w->pending != 0) {
        int p = w->pending;
        w->pending = 0;
        return lr_errorf(err, "stream writer: record map has %d field(s) %s",
                         p > 0 ? p : -p, p > 0 ? "missing" : "too many");
    }
    if (w->failed) return sw_error(w, err);
    return 0;
}

int lr_stream_writer_close(lr_stream_writer *w, lr_error *err)
{
    if (!w) return 0;
    int rc = 0;
    if (fflush(w->f) != 0 && !w->failed) {
        w->failed = true;
        w->errnum = errno;
    }
    if (w->failed) rc = sw_error(w, err);
    free(w);
    return rc;
}

/* ------------------------------------------------------------------ */
/* reader                                                               */

struct lr_record {
    const lr_stream_reader *r;
    int64_t no;
    int n, cap;
    const char **keys;
    size_t *klen;
    lr_mp_value *vals;
};

struct lr_stream_reader {
    FILE *f;
    char *what;
    char kind[64];
    char *buf;                    /* input bytes; [pos, len) not parsed yet */
    size_t pos, len, cap;
    char *hdr_copy;               /* the header's bytes (hdr_obj points into them) */
    size_t hdr_len;
    msgpack_unpacked hdr_obj;
    msgpack_unpacked cur;         /* the current record (points into buf) */
    lr_record hdr, rec;
    size_t last_start;            /* where the last object began in buf */
    int64_t no;                   /* maps read so far after the header */
    bool eof;
};

/* Limits that keep a corrupt length from turning into a huge allocation:
 * lr streams hold maps of a few scalars and one vector per record. */
#define MAX_ITEMS (1 << 20)       /* objects in one record */
#define MAX_PAYLOAD (1u << 30)    /* bytes of one string or bin */

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

/* Length of the complete msgpack object at p[0..n): returns 1 and sets
 * *len, 0 when more bytes are needed, -1 on invalid or oversized data
 * (*why says which).  Walks headers only; allocates nothing. */
static int frame(const unsigned char *p, size_t n, size_t *len, const char **why)
{
    size_t at = 0;
    uint64_t pending = 1;
    while (pending > 0) {
        if (at >= n) return 0;
        unsigned b = p[at];
        uint64_t head = 1, payload = 0, items = 0;
        int lenbytes = 0;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        } else if (b <= 0x8f) items = 2 * (b & 0x0f);
        else if (b <= 0x9f) items = b & 0x0f;
        else if (b <= 0xbf) payload = b & 0x1f;
        else if (b == 0xc1) {
            *why = "invalid msgpack byte 0xc1";
            return -1;
        } else if (b >= 0xc4 && b <= 0xc6) lenbytes = 1 << (b - 0xc4);
        else if (b >= 0xc7 && b <= 0xc9) {
            lenbytes = 1 << (b - 0xc7);
            head = 2;   /* + type byte of ext */
        } else if (b == 0xca) head = 5;
        else if (b == 0xcb) head = 9;
        else if (b >= 0xcc && b <= 0xcf) head = 1 + (1 << (b - 0xcc));
        else if (b >= 0xd0 && b <= 0xd3) head = 1 + (1 << (b - 0xd0));
        else if (b >= 0xd4 && b <= 0xd8) head = 2 + (1 << (b - 0xd4));
        else if (b >= 0xd9 && b <= 0xdb) lenbytes = 1 << (b - 0xd9);
        else if (b == 0xdc || b == 0xdd || b == 0xde || b == 0xdf) {
            int nb = (b == 0xdc || b == 0xde) ? 2 : 4;
            if (at + 1 + nb > n) return 0;
            items = be(p + at + 1, nb) * (b >= 0xde ? 2 : 1);
            head = 1 + nb;
        }
        if (lenbytes) {
            if (at + 1 + lenbytes > n) return 0;
            payload = be(p + at + 1, lenbytes);
            head += lenbytes;
        }
        if (payload > MAX_PAYLOAD) {
            *why = "string or bin too large (corrupt length?)";
            return -1;
        }
        pending += items;
        if (pending > MAX_ITEMS) {
            *why = "too many items in one record (corrupt length?)";
            return -1;
        }
        pending--;
        at += head + payload;
    }
    if (at > n) return 0;
    *len = at;
    return 1;
}

static void rec_free(lr_record *rec)
{
    free(rec->keys);
    free(rec->klen);
    free(rec->vals);
}

/* Fill rec from a msgpack map; -1 if it is not a map of string keys. */
static int rec_fill(lr_record *rec, const msgpack_object *o, lr_error *err)
{
    if (o->type != MSGPACK_OBJECT_MAP)
        return lr_rec_errorf(rec, err, "expected a map");
    const msgpack_object_map *m = &o->via.map;
    if ((int)m->size > rec->cap) {
        rec->cap = (int)m->size;
        rec->keys = lr_xrealloc(rec->keys, rec->cap * sizeof *rec->keys);
        rec->klen = lr_xrealloc(rec->klen, rec->cap * sizeof *rec->klen);
        rec->vals = lr_xrealloc(rec->vals, rec->cap * sizeof *rec->vals);
    }
    rec->n = (int)m->size;
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR)
            return lr_rec_errorf(rec, err, "map key %u is not a string", i + 1);
        /* msgpack-c leaves an empty string's pointer NULL: point it at ""
         * so that callers may memcpy and compare it */
        rec->keys[i] = k->via.str.size ? k->via.str.ptr : "";
        rec->klen[i] = k->via.str.size;
        lr_mp_value *x = &rec->vals[i];
        memset(x, 0, sizeof *x);
        switch (v->type) {
        case MSGPACK_OBJECT_NIL: x->type = LR_MP_NIL; break;
        case MSGPACK_OBJECT_BOOLEAN: x->type = LR_MP_BOOL; x->b = v->via.boolean; break;
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            if (v->via.u64 > INT64_MAX)
                return lr_rec_errorf(rec, err, "key \"%.*s\": integer out of range",
                                     (int)k->via.str.size, k->via.str.ptr);
            x->type = LR_MP_INT; x->i = (int64_t)v->via.u64; x->f = (double)x->i;
            break;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            x->type = LR_MP_INT; x->i = v->via.i64; x->f = (double)x->i;
            break;
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:
            x->type = LR_MP_FLOAT; x->f = v->via.f64;
            break;
        case MSGPACK_OBJECT_STR:
            x->type = LR_MP_STR; x->s = v->via.str.size ? v->via.str.ptr : ""; x->len = v->via.str.size;
            break;
        case MSGPACK_OBJECT_BIN:
            x->type = LR_MP_BIN; x->s = v->via.bin.size ? v->via.bin.ptr : ""; x->len = v->via.bin.size;
            break;
        default: x->type = LR_MP_OTHER; break;
        }
    }
    return 0;
}

/* Next msgpack object into *res: 1 = object, 0 = clean end, -1 = error.
 * The object points into r->buf, valid until the next call. */
static int next_object(lr_stream_reader *r, msgpack_unpacked *res, lr_error *err)
{
    for (;;) {
        size_t len;
        const char *why = NULL;
        /* before the first read buf is NULL: nothing to frame */
        int rc = r->buf ? frame((const unsigned char *)r->buf + r->pos, r->len - r->pos, &len, &why) : 0;
        if (rc < 0)
            return lr_errorf(err, "%s: record %" PRId64 ": %s", r->what, r->no, why);
        if (rc > 0) {
            size_t off = 0;
            msgpack_unpack_return ret = msgpack_unpack_next(res, r->buf + r->pos, len, &off);
            if (ret == MSGPACK_UNPACK_NOMEM_ERROR)
                return lr_errorf(err, "%s: record %" PRId64 ": out of memory", r->what, r->no);
            if (ret != MSGPACK_UNPACK_SUCCESS || off != len)
                return lr_errorf(err, "%s: record %" PRId64 ": malformed msgpack data",
                                 r->what, r->no);
            r->last_start = r->pos;
            r->pos += len;
            return 1;
        }
        if (r->eof) {
            if (r->len > r->pos)
                return lr_errorf(err, "%s: record %" PRId64 ": truncated stream", r->what, r->no);
            return 0;
        }
        /* the previous record is no longer needed: keep only unparsed bytes */
        msgpack_unpacked_destroy(&r->cur);
        msgpack_unpacked_init(&r->cur);
        if (r->pos > 0) {
            memmove(r->buf, r->buf + r->pos, r->len - r->pos);
            r->len -= r->pos;
            r->pos = 0;
        }
        /* reads grow with the stream, from 4 KiB (a short stream, such as
         * a metrics record, costs little) to 64 KiB at a time */
        size_t chunk = LR_MIN(LR_MAX(r->cap, (size_t)4096), (size_t)1 << 16);
        r->buf = lr_grow(r->buf, &r->cap, r->len + chunk, 1);
        size_t n = fread(r->buf + r->len, 1, r->cap - r->len, r->f);
        if (n == 0) {
            if (ferror(r->f))
                return lr_errorf(err, "%s: read error: %s", r->what, strerror(errno));
            r->eof = true;
        }
        r->len += n;
    }
}

static bool is_header(const msgpack_object *o)
{
    if (o->type != MSGPACK_OBJECT_MAP) return false;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == 6 &&
            !memcmp(k->via.str.ptr, "stream", 6))
            return true;
    }
    return false;
}

lr_stream_reader *lr_stream_reader_open(FILE *f, const char *what, const char *kind,
                                        int max_version, lr_error *err)
{
    lr_stream_reader *r = lr_xcalloc(1, sizeof *r);
    r->f = f;
    r->what = lr_xstrdup(what ? what : "stdin");
    snprintf(r->kind, sizeof r->kind, "lr.%s", kind);
    r->hdr.r = r->rec.r = r;
    msgpack_unpacked_init(&r->hdr_obj);
    msgpack_unpacked_init(&r->cur);

    int rc = next_object(r, &r->cur, err);
    if (rc == 0) {
        lr_errorf(err, "%s: empty input (expected a %s stream)", r->what, r->kind);
        goto fail;
    }
    if (rc < 0) goto fail;
    /* keep the header's own copy: records reuse the input buffer */
    {
        size_t off = 0;
        r->hdr_len = r->pos - r->last_start;
        r->hdr_copy = lr_xmalloc(r->hdr_len);
        memcpy(r->hdr_copy, r->buf + r->last_start, r->hdr_len);
        if (msgpack_unpack_next(&r->hdr_obj, r->hdr_copy, r->hdr_len, &off) !=
            MSGPACK_UNPACK_SUCCESS) {
            lr_errorf(err, "%s: header: malformed msgpack data", r->what);
            goto fail;
        }
    }
    if (!is_header(&r->hdr_obj.data)) {
        lr_errorf(err, "%s: not an lr stream (no header map with \"stream\")", r->what);
        goto fail;
    }
    if (rec_fill(&r->hdr, &r->hdr_obj.data, err) < 0) goto fail;
    const lr_mp_value *s = lr_rec_get(&r->hdr, "stream");
    if (!s || s->type != LR_MP_STR || s->len != strlen(r->kind) ||
        memcmp(s->s, r->kind, s->len)) {
        lr_errorf(err, "%s: expected a %s stream, found %.*s", r->what, r->kind,
                  s && s->type == LR_MP_STR ? (int)s->len : 1,
                  s && s->type == LR_MP_STR ? s->s : "?");
        goto fail;
    }
    int64_t version;
    if (lr_rec_int(&r->hdr, "version", &version, err) < 0) goto fail;
    if (version < 1 || version > max_version) {
        lr_errorf(err, "%s: %s version %" PRId64 " is not supported (at most %d)",
                  r->what, r->kind, version, max_version);
        goto fail;
    }
    return r;
fail:
    lr_stream_reader_close(r);
    return NULL;
}

const lr_record *lr_stream_header(const lr_stream_reader *r) { return &r->hdr; }
int64_t lr_stream_record_no(const lr_stream_reader *r) { return r->no; }
const char *lr_stream_what(const lr_stream_reader *r) { return r->what; }

/* A header identical to the first, byte for byte (what was consumed). */
/* Same content as the first header (compared re-encoded, so that writers
 * choosing other integer widths still match). */
static bool same_header(const lr_stream_reader *r)
{
    msgpack_sbuffer a, b;
    msgpack_sbuffer_init(&a);
    msgpack_sbuffer_init(&b);
    msgpack_packer pa, pb;
    msgpack_packer_init(&pa, &a, msgpack_sbuffer_write);
    msgpack_packer_init(&pb, &b, msgpack_sbuffer_write);
    msgpack_pack_object(&pa, r->hdr_obj.data);
    msgpack_pack_object(&pb, r->cur.data);
    bool same = a.size == b.size && !memcmp(a.data, b.data, a.size);
    msgpack_sbuffer_destroy(&a);
    msgpack_sbuffer_destroy(&b);
    return same;
}

int lr_stream_next(lr_stream_reader *r, const lr_record **rec, lr_error *err)
{
    for (;;) {
        r->no++;
        int rc = next_object(r, &r->cur, err);
        if (rc <= 0) {
            if (rc == 0) r->no--;
            return rc;
        }
        r->rec.no = r->no;
        if (is_header(&r->cur.data)) {
            if (!same_header(r))
                return lr_errorf(err, "%s: record %" PRId64 ": a different stream header "
                                 "(concatenated streams must have identical headers)",
                                 r->what, r->no);
            continue;
        }
        if (rec_fill(&r->rec, &r->cur.data, err) < 0) return -1;
        *rec = &r->rec;
        return 1;
    }
}

void lr_stream_reader_close(lr_stream_reader *r)
{
    if (!r) return;
    msgpack_unpacked_destroy(&r->cur);
    msgpack_unpacked_destroy(&r->hdr_obj);
    free(r->buf);
    free(r->hdr_copy);
    rec_free(&r->hdr);
    rec_free(&r->rec);
    free(r->what);
    free(r);
}

/* ------------------------------------------------------------------ */
/* record access                                                        */

int lr_rec_errorf(const lr_record *rec, lr_error *err, const char *fmt, ...)
{
    if (!err) return -1;
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (rec->no == 0)
        return lr_errorf(err, "%s: header: %s", rec->r->what, msg);
    return lr_errorf(err, "%s: record %" PRId64 ": %s", rec->r->what, rec->no, msg);
}

int lr_rec_nfields(const lr_record *rec) { return rec->n; }

const char *lr_rec_key(const lr_record *rec, int i, size_t *len)
{
    if (len) *len = rec->klen[i];
    return rec->keys[i];
}

const lr_mp_value *lr_rec_value(const lr_record *rec, int i) { return &rec->vals[i]; }

const lr_mp_value *lr_rec_get(const lr_record *rec, const char *key)
{
    size_t n = strlen(key);
    for (int i = 0; i < rec->n; i++)
        if (rec->klen[i] == n && !memcmp(rec->keys[i], key, n)) return &rec->vals[i];
    return NULL;
}

static const char *type_name(lr_mp_type t)
{
    static const char *names[] = {"nil", "boolean", "integer", "float", "string", "bin", "array/map"};
    return names[t];
}

static const lr_mp_value *get_typed(const lr_record *rec, const char *key, lr_mp_type t,
                                    lr_error *err)
{
    const lr_mp_value *v = lr_rec_get(rec, key);
    if (!v) {
        lr_rec_errorf(rec, err, "missing key \"%s\"", key);
        return NULL;
    }
    if (v->type != t && !(t == LR_MP_FLOAT && v->type == LR_MP_INT)) {
        lr_rec_errorf(rec, err, "key \"%s\": expected %s, found %s", key, type_name(t),
                      type_name(v->type));
        return NULL;
    }
    return v;
}

int lr_rec_strp(const lr_record *rec, const char *key, const char **s, size_t *len,
                lr_error *err)
{
    const lr_mp_value *v = get_typed(rec, key, LR_MP_STR, err);
    if (!v) return -1;
    *s = v->s;
    if (len) *len = v->len;
    return 0;
}

int lr_rec_str(const lr_record *rec, const char *key, char *buf, size_t size, lr_error *err)
{
    const lr_mp_value *v = get_typed(rec, key, LR_MP_STR, err);
    if (!v) return -1;
    if (v->len >= size)
        return lr_rec_errorf(rec, err, "key \"%s\": string too long (%zu bytes, at most %zu)",
                             key, v->len, size - 1);
    memcpy(buf, v->s, v->len);
    buf[v->len] = 0;
    return 0;
}

int lr_rec_int(const lr_record *rec, const char *key, int64_t *out, lr_error *err)
{
    const lr_mp_value *v = get_typed(rec, key, LR_MP_INT, err);
    if (!v) return -1;
    *out = v->i;
    return 0;
}

int lr_rec_float(const lr_record *rec, const char *key, double *out, lr_error *err)
{
    const lr_mp_value *v = get_typed(rec, key, LR_MP_FLOAT, err);
    if (!v) return -1;
    *out = v->f;
    return 0;
}

int lr_rec_bool(const lr_record *rec, const char *key, bool *out, lr_error *err)
{
    const lr_mp_value *v = get_typed(rec, key, LR_MP_BOOL, err);
    if (!v) return -1;
    *out = v->b;
    return 0;
}

int lr_rec_bin(const lr_record *rec, const char *key, const void **p, size_t *len,
               lr_error *err)
{
    const lr_mp_value *v = get_typed(rec, key, LR_MP_BIN, err);
    if (!v) return -1;
    *p = v->s;
    *len = v->len;
    return 0;
}

int lr_rec_f32(const lr_record *rec, const char *key, float *dst, size_t n, lr_error *err)
{
    const lr_mp_value *v = get_typed(rec, key, LR_MP_BIN, err);
    if (!v) return -1;
    if (v->len != n * 4)
        return lr_rec_errorf(rec, err, "key \"%s\": %zu bytes, expected %zu float32 (%zu bytes)",
                             key, v->len, n, n * 4);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(dst, v->s, n * 4);
#else
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, v->s + 4 * i, 4);
        u = __builtin_bswap32(u);
        memcpy(&dst[i], &u, 4);
    }
#endif
    return 0;
}

/* ------------------------------------------------------------------ */
/* embeddings stream                                                    */

struct lr_emb_writer {
    lr_stream_writer *w;
    int dim;
};

lr_emb_writer *lr_emb_writer_new(FILE *f, const lr_emb_header *h, lr_error *err)
{
    if (h->dim <= 0) {
        lr_errorf(err, "embeddings stream: dimension %d must be positive", h->dim);
        return NULL;
    }
    lr_stream_writer *sw = lr_stream_writer_new(f, "embeddings", 1, 5, err);
    if (!sw) return NULL;
    lr_sw_str(sw, "model", h->model);
    lr_sw_int(sw, "dim", h->dim);
    lr_sw_str(sw, "pooling", h->pooling);
    lr_sw_bool(sw, "normalized", h->normalized);
    lr_sw_str(sw, "kind", h->kind);
    if (lr_sw_end(sw, err) < 0) {
        lr_stream_writer_close(sw, NULL);
        return NULL;
    }
    lr_emb_writer *w = lr_xcalloc(1, sizeof *w);
    w->w = sw;
    w->dim = h->dim;
    return w;
}

int lr_emb_write(lr_emb_writer *w, const char *id, const float *vec, lr_error *err)
{
    lr_sw_begin(w->w, 2);
    lr_sw_str(w->w, "id", id);
    lr_sw_f32(w->w, "vec", vec, (size_t)w->dim);
    return lr_sw_end(w->w, err);
}

int lr_emb_writer_close(lr_emb_writer *w, lr_error *err)
{
    if (!w) return 0;
    int rc = lr_stream_writer_close(w->w, err);
    free(w);
    return rc;
}

struct lr_emb_reader {
    lr_stream_reader *r;
    lr_emb_header h;
    char *id;
    size_t id_cap;
};

lr_emb_reader *lr_emb_reader_open(FILE *f, const char *what, lr_error *err)
{
    lr_stream_reader *r = lr_stream_reader_open(f, what, "embeddings", 1, err);
    if (!r) return NULL;
    lr_emb_reader *e = lr_xcalloc(1, sizeof *e);
    e->r = r;
    const lr_record *h = lr_stream_header(r);
    int64_t dim;
    if (lr_rec_str(h, "model", e->h.model, sizeof e->h.model, err) < 0 ||
        lr_rec_int(h, "dim", &dim, err) < 0 ||
        lr_rec_str(h, "pooling", e->h.pooling, sizeof e->h.pooling, err) < 0 ||
        lr_rec_bool(h, "normalized", &e->h.normalized, err) < 0 ||
        lr_rec_str(h, "kind", e->h.kind, sizeof e->h.kind, err) < 0)
        goto fail;
    if (dim <= 0 || dim > (1 << 20)) {
        lr_rec_errorf(h, err, "dim %" PRId64 " out of range", dim);
        goto fail;
    }
    e->h.dim = (int)dim;
    return e;
fail:
    lr_emb_reader_close(e);
    return NULL;
}

const lr_emb_header *lr_emb_reader_header(const lr_emb_reader *r) { return &r->h; }

int lr_emb_read(lr_emb_reader *e, const char **id, float *vec, lr_error *err)
{
    const lr_record *rec;
    int rc = lr_stream_next(e->r, &rec, err);
    if (rc <= 0) return rc;
    const char *s;
    size_t len;
    if (lr_rec_strp(rec, "id", &s, &len, err) < 0 ||
        lr_rec_f32(rec, "vec", vec, (size_t)e->h.dim, err) < 0)
        return -1;
    for (int i = 0; i < e->h.dim; i++)   /* no search can rank a NaN */
        if (!isfinite(vec[i]))
            return lr_rec_errorf(rec, err, "key \"vec\": element %d is %s", i,
                                 isnan(vec[i]) ? "NaN" : "infinite");
    e->id = lr_grow(e->id, &e->id_cap, len + 1, 1);
    memcpy(e->id, s, len);
    e->id[len] = 0;
    *id = e->id;
    return 1;
}

int lr_emb_read_all(lr_emb_reader *e, float **vecs, char ***ids, size_t *n, lr_error *err)
{
    size_t dim = (size_t)e->h.dim, cap_v = 0, cap_i = 0, k = 0;
    float *v = NULL;
    char **id = NULL;
    const char *s;
    int rc;
    for (;;) {
        v = lr_grow(v, &cap_v, k + 1, dim * sizeof *v);
        if ((rc = lr_emb_read(e, &s, v + k * dim, err)) <= 0) break;
        id = lr_grow(id, &cap_i, k + 1, sizeof *id);
        id[k++] = lr_xstrdup(s);
    }
    if (rc < 0) {
        while (k) free(id[--k]);
        free(id), free(v);
        return -1;
    }
    *vecs = v, *ids = id, *n = k;
    return 0;
}

void lr_emb_reader_close(lr_emb_reader *e)
{
    if (!e) return;
    lr_stream_reader_close(e->r);
    free(e->id);
    free(e);
}

/* ------------------------------------------------------------------ */
/* metrics stream                                                       */

lr_stream_writer *lr_metrics_writer_new(FILE *f, const char *qrels, const char *run,
                                        int64_t queries, bool complete, lr_error *err)
{
    lr_stream_writer *w = lr_stream_writer_new(f, "metrics", 1, 4, err);
    if (!w) return NULL;
    lr_sw_str(w, "qrels", qrels ? qrels : "");
    lr_sw_str(w, "run", run ? run : "");
    lr_sw_int(w, "queries", queries);
    lr_sw_bool(w, "complete", complete);
    if (lr_sw_end(w, err) < 0) {
        lr_stream_writer_close(w, NULL);
        return NULL;
    }
    return w;
}

int lr_metrics_write(lr_stream_writer *w, const char *measure, const char *query,
                     double value, lr_error *err)
{
    lr_sw_begin(w, 3);
    lr_sw_str(w, "measure", measure);
    lr_sw_str(w, "query", query);
    lr_sw_float(w, "value", value);
    return lr_sw_end(w, err);
}
