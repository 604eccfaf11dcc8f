/* safetensors.c - every byte of the safetensors format: dtypes, strict
 * parsing and writing of checkpoint weights, float32 files of named
 * arrays (the training state). */
#include "config.h"
#include "io/checkpoint-int.h"
#include "io/safetensors.h"

#include <cpuid.h>
#include <errno.h>
#include <immintrin.h>
#include <jansson.h>
#include <math.h>

/* ---------------- dtypes ---------------- */

size_t lr_dtype_size(lr_dtype t)
{
    switch (t) {
    case LR_F32: return 4;
    case LR_BF16: return 2;
    case LR_F16: return 2;
    }
    return 0;
}

const char *lr_dtype_name(lr_dtype t)
{
    switch (t) {
    case LR_F32: return "F32";
    case LR_BF16: return "BF16";
    case LR_F16: return "F16";
    }
    return "?";
}

int64_t lr_tensor_numel(const lr_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

static inline float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* IEEE half to float, exact (subnormals, infinities, NaN payloads). */
static inline float half_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000 | (man << 13));
    if (exp == 0) {
        float f = (float)man * 0x1p-24f;   /* exact: man < 2^10 */
        return sign ? -f : f;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

/* Float to IEEE half, rounding to nearest even (overflow to infinity,
 * NaN stays a quiet NaN), in integer arithmetic so any C compiler builds
 * it; the F16C instruction gives the same bits. */
static inline uint16_t f32_to_half(float f)
{
    uint32_t u = f32_bits(f), a = u & 0x7fffffff;
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    if (a > 0x7f800000) return sign | 0x7e00 | (uint16_t)((a >> 13) & 0x3ff);   /* NaN */
    if (a >= 0x477ff000) return sign | 0x7c00;   /* 65520 and up round to infinity */
    if (a < 0x38800000) {
        /* below 2^-14: a subnormal half; adding 0.5 puts the half's unit
         * 2^-24 in the float's last place, and the float adder rounds */
        float t = bits_f32(a) + 0.5f;
        return sign | (uint16_t)(f32_bits(t) - 0x3f000000);
    }
    /* normal: rebias the exponent (127 -> 15) and round the 13 dropped
     * bits to nearest, ties to the even mantissa */
    uint32_t odd = (a >> 13) & 1;
    return sign | (uint16_t)((a - 0x38000000 + 0xfff + odd) >> 13);
}

/* F16C and AVX with the YMM state saved by the OS (cpuid, xgetbv). */
static bool have_f16c(void)
{
    static int v = -1;
    if (v < 0) {
        unsigned a, b, c, d;
        v = 0;
        if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) && (c & bit_AVX) && (c & bit_OSXSAVE)) {
            unsigned lo, hi;
            __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
            v = (lo & 6) == 6;
        }
    }
    return v;
}

__attribute__((target("avx,f16c")))
static void half_to_f32_f16c(const uint16_t *s, float *d, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + i))));
    for (; i < n; i++) d[i] = half_to_f32(s[i]);
}

__attribute__((target("avx,f16c")))
static void f32_to_half_f16c(const float *s, uint16_t *d, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(d + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(s + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) d[i] = f32_to_half(s[i]);
}

void lr_to_f32(lr_dtype t, const void *src, float *dst, size_t n)
{
    switch (t) {
    case LR_F32:
        memmove(dst, src, n * 4);
        break;
    case LR_BF16: {
        const unsigned char *s = src;
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            dst[i] = bits_f32((uint32_t)h << 16);
        }
        break;
    }
    case LR_F16:
        if (have_f16c() && ((uintptr_t)src & 1) == 0) {
            half_to_f32_f16c(src, dst, n);
        } else {
            const unsigned char *s = src;
            for (size_t i = 0; i < n; i++) {
                uint16_t h;
                memcpy(&h, s + 2 * i, 2);
                dst[i] = half_to_f32(h);
            }
        }
        break;
    }
}

void lr_from_f32(lr_dtype t, const float *src, void *dst, size_t n)
{
    switch (t) {
    case LR_F32:
        memmove(dst, src, n * 4);
        break;
    case LR_BF16: {
        unsigned char *d = dst;
        for (size_t i = 0; i < n; i++) {
            uint32_t u = f32_bits(src[i]);
            uint16_t h;
            if ((u & 0x7fffffff) > 0x7f800000)
                h = (uint16_t)((u >> 16) | 0x40);   /* keep NaN a (quiet) NaN */
            else
                h = (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);   /* nearest even */
            memcpy(d + 2 * i, &h, 2);
        }
        break;
    }
    case LR_F16:
        if (have_f16c() && ((uintptr_t)dst & 1) == 0) {
            f32_to_half_f16c(src, dst, n);
        } else {
            unsigned char *d = dst;
            for (size_t i = 0; i < n; i++) {
                uint16_t h = f32_to_half(src[i]);
                memcpy(d + 2 * i, &h, 2);
            }
        }
        break;
    }
}

/* ---------------- safetensors ---------------- */

/* Largest header accepted: real ones are well under a megabyte. */
#define MAX_HEADER CK_MAX_SAFETENSORS_HEADER

int ck_safetensors_extent(const char *header, size_t hlen, uint64_t *extent)
{
    json_t *h = json_loadb(header, hlen, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    if (!json_is_object(h)) {
        json_decref(h);
        return -1;
    }
    uint64_t far = 0;
    const char *key;
    json_t *v;
    json_object_foreach(h, key, v) {
        json_t *e = json_array_get(json_object_get(v, "data_offsets"), 1);
        if (json_is_integer(e) && json_integer_value(e) > 0 && (uint64_t)json_integer_value(e) > far)
            far = (uint64_t)json_integer_value(e);
    }
    json_decref(h);
    *extent = far;
    return 0;
}

static int parse_dtype(const char *s, lr_dtype *t)
{
    if (strcmp(s, "F32") == 0) *t = LR_F32;
    else if (strcmp(s, "BF16") == 0) *t = LR_BF16;
    else if (strcmp(s, "F16") == 0) *t = LR_F16;
    else return -1;
    return 0;
}

struct span { uint64_t begin, end; size_t idx; };

static int cmp_span(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

int ck_safetensors_parse(const void *data, size_t size, const char *what,
                         lr_tensor **tensors, size_t *n, size_t *cap, lr_error *err)
{
    const unsigned char *base = data;
    if (size < 8) return lr_errorf(err, "%s: %zu bytes: too short for a safetensors file", what, size);
    uint64_t hlen;
    memcpy(&hlen, base, 8);   /* little-endian host */
    if (hlen > size - 8)
        return lr_errorf(err, "%s: header length %llu larger than the file (%zu bytes)", what,
                         (unsigned long long)hlen, size);
    if (hlen > MAX_HEADER)
        return lr_errorf(err, "%s: header length %llu is not sane (limit %u)", what,
                         (unsigned long long)hlen, MAX_HEADER);
    if (hlen < 2) return lr_errorf(err, "%s: header length %llu too small", what, (unsigned long long)hlen);
    char hwhat[600];
    snprintf(hwhat, sizeof hwhat, "%s: header", what);
    json_t *h = lr_json_parse((const char *)base + 8, hlen, hwhat, err);
    if (!h) return -1;
    if (!json_is_object(h)) {
        json_decref(h);
        return lr_errorf(err, "%s: header is not a JSON object", what);
    }
    uint64_t dsize = size - 8 - hlen;
    const unsigned char *dbase = base + 8 + hlen;
    size_t first = *n;
    const char *key;
    json_t *v;
    int rc = -1;
    json_object_foreach(h, key, v) {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(v)) {
                lr_errorf(err, "%s: __metadata__ is not an object", what);
                goto out;
            }
            continue;
        }
        json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"),
               *jo = json_object_get(v, "data_offsets");
        if (!json_is_object(v) || !json_is_string(jd) || !json_is_array(js) || !json_is_array(jo) ||
            json_array_size(jo) != 2) {
            lr_errorf(err, "%s: tensor %s: expected {\"dtype\", \"shape\", \"data_offsets\": [begin, end]}", what, key);
            goto out;
        }
        lr_dtype dt;
        if (parse_dtype(json_string_value(jd), &dt) != 0) {
            lr_errorf(err, "%s: tensor %s: unsupported dtype \"%s\" (expected F32, BF16 or F16)", what, key,
                      json_string_value(jd));
            goto out;
        }
        size_t nd = json_array_size(js);
        if (nd > 4) {
            lr_errorf(err, "%s: tensor %s: %zu dimensions (at most 4 supported)", what, key, nd);
            goto out;
        }
        int64_t shape[4] = {0};
        uint64_t numel = 1;
        bool overflow = false;
        for (size_t i = 0; i < nd; i++) {
            json_t *x = json_array_get(js, i);
            if (!json_is_integer(x) || json_integer_value(x) < 0) {
                lr_errorf(err, "%s: tensor %s: shape[%zu] is not a non-negative integer", what, key, i);
                goto out;
            }
            shape[i] = json_integer_value(x);
            overflow |= __builtin_mul_overflow(numel, (uint64_t)shape[i], &numel);
        }
        json_t *jb = json_array_get(jo, 0), *je = json_array_get(jo, 1);
        if (!json_is_integer(jb) || !json_is_integer(je) || json_integer_value(jb) < 0 ||
            json_integer_value(je) < json_integer_value(jb)) {
            lr_errorf(err, "%s: tensor %s: data_offsets must be integers 0 <= begin <= end", what, key);
            goto out;
        }
        uint64_t b = json_integer_value(jb), e = json_integer_value(je), nbytes;
        overflow |= __builtin_mul_overflow(numel, (uint64_t)lr_dtype_size(dt), &nbytes);
        if (e > dsize) {
            lr_errorf(err, "%s: tensor %s: data_offsets [%llu, %llu] past the end of the data (%llu bytes)", what,
                      key, (unsigned long long)b, (unsigned long long)e, (unsigned long long)dsize);
            goto out;
        }
        if (overflow || nbytes != e - b) {
            lr_errorf(err, "%s: tensor %s: %llu bytes in data_offsets, but dtype %s x shape needs %s%llu", what, key,
                      (unsigned long long)(e - b), lr_dtype_name(dt), overflow ? "more than " : "",
                      (unsigned long long)(overflow ? UINT64_MAX : nbytes));
            goto out;
        }
        *tensors = lr_grow(*tensors, cap, *n + 1, sizeof **tensors);
        lr_tensor *t = &(*tensors)[(*n)++];
        memset(t, 0, sizeof *t);
        t->name = lr_xstrdup(key);
        t->dtype = dt;
        t->ndim = (int)nd;
        memcpy(t->shape, shape, sizeof shape);
        t->nbytes = nbytes;
        t->data = (void *)(dbase + b);
    }
    /* No two tensors may share bytes. */
    size_t m = *n - first;
    struct span *sp = lr_xmalloc((m ? m : 1) * sizeof *sp);
    for (size_t i = 0; i < m; i++) {
        lr_tensor *t = &(*tensors)[first + i];
        sp[i].begin = (uint64_t)((unsigned char *)t->data - dbase);
        sp[i].end = sp[i].begin + t->nbytes;
        sp[i].idx = first + i;
    }
    qsort(sp, m, sizeof *sp, cmp_span);
    size_t far = 0;   /* span reaching furthest so far */
    for (size_t i = 1; i < m; i++) {
        if (sp[i].end > sp[i].begin && sp[i].begin < sp[far].end) {
            lr_errorf(err, "%s: tensors %s [%llu, %llu] and %s [%llu, %llu] overlap", what,
                      (*tensors)[sp[far].idx].name, (unsigned long long)sp[far].begin,
                      (unsigned long long)sp[far].end, (*tensors)[sp[i].idx].name,
                      (unsigned long long)sp[i].begin, (unsigned long long)sp[i].end);
            free(sp);
            goto out;
        }
        if (sp[i].end > sp[far].end) far = i;
    }
    /* The data is covered exactly, as the format requires: no byte
     * before, between or after the tensors belongs to none. */
    uint64_t reach = 0;
    for (size_t i = 0; i < m; i++) {
        if (sp[i].begin > reach) {
            lr_errorf(err, "%s: data bytes [%llu, %llu) belong to no tensor", what, (unsigned long long)reach,
                      (unsigned long long)sp[i].begin);
            free(sp);
            goto out;
        }
        if (sp[i].end > reach) reach = sp[i].end;
    }
    if (reach < dsize) {
        lr_errorf(err, "%s: %llu bytes after the last tensor (the data must be covered exactly)", what,
                  (unsigned long long)(dsize - reach));
        free(sp);
        goto out;
    }
    free(sp);
    rc = 0;
out:
    if (rc) {
        for (size_t i = first; i < *n; i++) free((*tensors)[i].name);
        *n = first;
    }
    json_decref(h);
    return rc;
}

char *ck_safetensors_header(const lr_tensor *t, const size_t *order, size_t n, size_t *hlen, uint64_t *total)
{
    json_t *h = json_object();
    json_object_set_new(h, "__metadata__", json_pack("{s:s}", "format", "pt"));
    uint64_t off = 0;
    for (size_t k = 0; k < n; k++) {
        const lr_tensor *x = &t[order[k]];
        json_t *shape = json_array();
        for (int i = 0; i < x->ndim; i++) json_array_append_new(shape, json_integer(x->shape[i]));
        json_object_set_new(h, x->name,
                            json_pack("{s:s,s:o,s:[I,I]}", "dtype", lr_dtype_name(x->dtype), "shape", shape,
                                      "data_offsets", (json_int_t)off, (json_int_t)(off + x->nbytes)));
        off += x->nbytes;
    }
    char *js = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    if (!js) lr_die("out of memory (safetensors header)");
    size_t len = strlen(js);
    size_t padded = (len + 7) & ~(size_t)7;   /* data starts 8-byte aligned */
    char *buf = lr_xmalloc(8 + padded);
    uint64_t l = padded;
    memcpy(buf, &l, 8);
    memcpy(buf + 8, js, len);
    memset(buf + 8 + len, ' ', padded - len);
    free(js);
    *hlen = 8 + padded;
    *total = 8 + padded + off;
    return buf;
}

/* ---------------- float32 files of named arrays ---------------- */

int lr_st_write_f32(FILE *f, const lr_st_entry *e, size_t n, json_t *meta, const char *what,
                    lr_error *err)
{
    json_t *h = json_object();
    if (meta) json_object_set(h, "__metadata__", meta);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *shape = json_array();
        int64_t numel = 1;
        for (int d = 0; d < e[i].ndim; d++) {
            json_array_append_new(shape, json_integer(e[i].shape[d]));
            numel *= e[i].shape[d];
        }
        size_t bytes = (size_t)numel * 4;
        json_object_set_new(h, e[i].name,
                            json_pack("{s:s, s:o, s:[I,I]}", "dtype", "F32", "shape", shape,
                                      "data_offsets", (json_int_t)off, (json_int_t)(off + bytes)));
        off += bytes;
    }
    char *js = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(h);
    if (!js) lr_die("out of memory (safetensors header)");
    size_t len = strlen(js), pad = (8 - len % 8) % 8;
    uint64_t hl = len + pad;
    int rc = 0;
    if (fwrite(&hl, 8, 1, f) != 1 || fwrite(js, 1, len, f) != len ||
        fwrite("        ", 1, pad, f) != pad)
        rc = -1;
    free(js);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int64_t numel = 1;
        for (int d = 0; d < e[i].ndim; d++) numel *= e[i].shape[d];
        if (fwrite(e[i].data, 4, (size_t)numel, f) != (size_t)numel) rc = -1;
    }
    if (rc) lr_errorf(err, "%s: write error: %s", what, strerror(errno));
    return rc;
}

json_t *lr_st_header(const char *buf, size_t len, size_t *data_at)
{
    uint64_t hl = 0;
    if (len < 8) return NULL;
    memcpy(&hl, buf, 8);
    if (hl > len - 8) return NULL;
    *data_at = 8 + (size_t)hl;
    return json_loadb(buf + 8, (size_t)hl, 0, NULL);
}

const void *lr_st_f32(json_t *header, const char *buf, size_t len, size_t data_at,
                      const char *name, int64_t n)
{
    json_t *t = json_object_get(header, name);
    json_t *off = json_object_get(t, "data_offsets");
    uint64_t a = json_integer_value(json_array_get(off, 0));
    uint64_t b = json_integer_value(json_array_get(off, 1));
    if (!t || b - a != (uint64_t)n * 4 || b < a || data_at + b > len) return NULL;
    return buf + data_at + a;
}
