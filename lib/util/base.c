/* base.c - the library's own helpers: allocation that cannot fail
 * quietly, growable arrays, lr_error messages, named enums, whole files, time. */
#include "config.h"
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <time.h>

void *lr_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) lr_die("out of memory (%zu bytes)", n);
    return p;
}

void *lr_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) lr_die("out of memory (%zu x %zu bytes)", n, size);
    return p;
}

void *lr_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) lr_die("out of memory (%zu bytes)", n);
    return q;
}

void *lr_grow_to(void *p, size_t *cap, size_t need, size_t size)
{
    size_t c = *cap ? *cap : 16;
    while (c < need) c = c <= SIZE_MAX / 2 ? 2 * c : need;
    if (size && c > SIZE_MAX / size) lr_die("out of memory (%zu x %zu bytes)", c, size);
    p = lr_xrealloc(p, c * size);
    *cap = c;
    return p;
}

char *lr_xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (!p) lr_die("out of memory");
    return p;
}

int lr_errorf(lr_error *err, const char *fmt, ...)
{
    if (!err) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int lr_error_prefix(lr_error *err, const char *fmt, ...)
{
    if (!err) return -1;
    char prefix[512], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* a long message is cut, never overflowed */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-truncation"
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
#pragma GCC diagnostic pop
    return -1;
}

const char *lr_version(void) { return PACKAGE_VERSION; }

int lr_name_index(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0) return (int)i;
    return -1;
}

const char *lr_name_at(const char *const *names, size_t n, unsigned i)
{
    return i < n ? names[i] : "?";
}

/* ---------------- files ---------------- */

char *lr_read_file(const char *path, size_t *len, lr_error *err)
{
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        lr_errorf(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = lr_xmalloc(cap);
    for (;;) {
        buf = lr_grow(buf, &cap, n + 2, 1);
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    bool bad = ferror(f);
    int e = errno;
    if (!is_stdin) fclose(f);
    if (bad) {
        free(buf);
        lr_errorf(err, "%s: read error: %s", is_stdin ? "stdin" : path, strerror(e));
        return NULL;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

/* ---------------- time ---------------- */

double lr_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
