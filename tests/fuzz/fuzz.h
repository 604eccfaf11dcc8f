/* fuzz.h - helpers shared by the libFuzzer targets.
 *
 * Inputs made of several files are split on the separator line "\n%%\n";
 * files are handed to the library as memfds named /proc/self/fd/N, so
 * readers that take a path see a regular file and nothing touches disk.
 * A failure must come with a message that starts with the name of what
 * was read: anything else aborts, so the fuzzer reports it. */
#ifndef LR_FUZZ_H
#define LR_FUZZ_H
#define _GNU_SOURCE
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lr.h"

#define FUZZ_SEP "\n%%\n"
#define FUZZ_MAX_PARTS 8

typedef struct {
    const char *p[FUZZ_MAX_PARTS];
    size_t n[FUZZ_MAX_PARTS];
    int count;
} fuzz_parts;

static inline void fuzz_split(const uint8_t *d, size_t n, fuzz_parts *out)
{
    const char *s = (const char *)d, *end = s + n;
    size_t sep = strlen(FUZZ_SEP);
    out->count = 0;
    while (out->count < FUZZ_MAX_PARTS) {
        const char *hit = out->count + 1 < FUZZ_MAX_PARTS ? memmem(s, (size_t)(end - s), FUZZ_SEP, sep) : NULL;
        out->p[out->count] = s;
        out->n[out->count] = hit ? (size_t)(hit - s) : (size_t)(end - s);
        out->count++;
        if (!hit) break;
        s = hit + sep;
    }
}

/* A malloc'ed, NUL-terminated copy of len bytes. */
static inline char *fuzz_strndup(const char *p, size_t len)
{
    char *s = malloc(len + 1);
    if (!s) abort();
    memcpy(s, p, len);
    s[len] = 0;
    return s;
}

/* A memfd holding the bytes; its path goes to path[0..n). */
static inline int fuzz_file(const void *d, size_t len, char *path, size_t n)
{
    int fd = memfd_create("lr-fuzz", 0);
    if (fd < 0) {
        perror("memfd_create");
        abort();
    }
    const char *p = d;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w <= 0) abort();
        p += w;
        len -= (size_t)w;
    }
    snprintf(path, n, "/proc/self/fd/%d", fd);
    return fd;
}

/* A failure's message names `name` first (the tools fold it to one line). */
static inline void fuzz_check_error(const lr_error *e, const char *name)
{
    size_t n = strlen(name);
    if (!e->msg[0] || strncmp(e->msg, name, n) != 0) {
        fprintf(stderr, "bad error message (expected one starting with \"%s\"): \"%s\"\n", name, e->msg);
        abort();
    }
}
#endif
