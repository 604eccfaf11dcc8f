/* tar.c - read a checkpoint tar (file or stdin) into memory with libarchive. */
#include "config.h"
#include "checkpoint-int.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void ck_blobs_free(ck_blob *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (b[i].mapped) {
            if (b[i].data) munmap(b[i].data, b[i].map_len);
        } else {
            free(b[i].data);
        }
        free(b[i].name);
    }
    free(b);
}

/* One-line copy of libarchive's message (it may hold newlines). */
static const char *arc_msg(struct archive *a)
{
    static char buf[512];
    const char *s = archive_error_string(a);
    snprintf(buf, sizeof buf, "%s", s ? s : "unknown libarchive error");
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    return buf;
}

/* Normalise a member name: drop leading "./" and "/" runs. */
static const char *skip_dot(const char *s)
{
    for (;;) {
        if (s[0] == '.' && s[1] == '/') s += 2;
        else if (s[0] == '/') s++;
        else return s;
    }
}

int ck_tar_read(const char *path, const char *what, ck_blob **out, size_t *nout, lr_error *err)
{
    bool is_stdin = !path || strcmp(path, "-") == 0;
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    int r;
    off_t file_size = -1;
    if (is_stdin) {
        r = archive_read_open_fd(a, 0, 1 << 20);
    } else {
        struct stat st;
        if (stat(path, &st) == 0) file_size = st.st_size;
        r = archive_read_open_filename(a, path, 1 << 20);
    }
    if (r != ARCHIVE_OK) {
        lr_errorf(err, "%s: cannot read tar: %s", what, arc_msg(a));
        archive_read_free(a);
        return -1;
    }
    ck_blob *b = NULL;
    size_t n = 0, cap = 0;
    struct archive_entry *e;
    int nmembers = 0;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
        nmembers++;
        if (archive_entry_filetype(e) != AE_IFREG) continue;
        const char *name = skip_dot(archive_entry_pathname(e) ? archive_entry_pathname(e) : "");
        if (!*name) continue;
        la_int64_t declared = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
        /* An uncompressed tar cannot hold a member larger than itself:
         * refuse lies before allocating. */
        if (declared > 0 && file_size >= 0 && archive_filter_count(a) <= 1 && declared > file_size) {
            lr_errorf(err, "%s: %s: member size %lld larger than the whole tar (%lld bytes): truncated tar", what, name,
                      (long long)declared, (long long)file_size);
            goto fail;
        }
        /* Grow as data arrives, so a lying header cannot make us allocate
         * more than the input holds; large blocks are grown by mremap. */
        size_t bcap = declared >= 0 ? (size_t)LR_MIN(declared + 1, (la_int64_t)1 << 24) : 1 << 16;
        size_t len = 0;
        char *buf = lr_xmalloc(bcap);
        for (;;) {
            if (declared >= 0 && (la_int64_t)len == declared) {
                char probe;   /* confirm the end without growing the buffer */
                la_ssize_t got = archive_read_data(a, &probe, 1);
                if (got < 0) {
                    lr_errorf(err, "%s: %s: %s", what, name, arc_msg(a));
                    free(buf);
                    goto fail;
                }
                if (got == 0) break;
                lr_errorf(err, "%s: %s: more data than the declared %lld bytes", what, name, (long long)declared);
                free(buf);
                goto fail;
            }
            if (len + 1 >= bcap) {
                size_t want = bcap * 2;
                if (declared >= 0 && want > (size_t)declared + 1) want = (size_t)declared + 1;
                buf = lr_xrealloc(buf, want);
                bcap = want;
            }
            la_ssize_t got = archive_read_data(a, buf + len, bcap - len - 1);
            if (got < 0) {
                lr_errorf(err, "%s: %s: %s", what, name, arc_msg(a));
                free(buf);
                goto fail;
            }
            if (got == 0) break;
            len += (size_t)got;
        }
        if (declared >= 0 && (la_int64_t)len != declared) {
            lr_errorf(err, "%s: %s: truncated member (%zu of %lld bytes)", what, name, len, (long long)declared);
            free(buf);
            goto fail;
        }
        buf[len] = 0;
        /* A later member of the same name replaces the earlier (tar -r). */
        size_t i;
        for (i = 0; i < n; i++)
            if (strcmp(b[i].name, name) == 0) break;
        if (i < n) {
            free(b[i].data);
        } else {
            if (n == cap) b = lr_xrealloc(b, (cap = cap ? 2 * cap : 16) * sizeof *b);
            b[n].name = lr_xstrdup(name);
            b[n].mapped = false;
            b[n].map_len = 0;
            n++;
        }
        b[i].data = buf;
        b[i].size = len;
    }
    if (r != ARCHIVE_EOF) {
        lr_errorf(err, "%s: corrupt or truncated tar: %s", what, arc_msg(a));
        goto fail;
    }
    if (nmembers == 0) {
        lr_errorf(err, "%s: empty tar (expected a checkpoint)", what);
        goto fail;
    }
    archive_read_free(a);
    /* Strip one directory that every member shares ("model/config.json"). */
    if (n > 0) {
        const char *slash = strchr(b[0].name, '/');
        size_t plen = slash ? (size_t)(slash - b[0].name) + 1 : 0;
        bool common = plen > 0;
        for (size_t i = 0; i < n && common; i++)
            if (strncmp(b[i].name, b[0].name, plen) != 0) common = false;
        if (common) {
            for (size_t i = 0; i < n; i++) {
                char *s = lr_xstrdup(skip_dot(b[i].name + plen));
                free(b[i].name);
                b[i].name = s;
            }
        }
    }
    *out = b;
    *nout = n;
    return 0;
fail:
    archive_read_free(a);
    ck_blobs_free(b, n);
    return -1;
}
