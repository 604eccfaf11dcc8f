/* tar.c - read a checkpoint tar (file or stdin) into memory with libarchive.
 *
 * Memory is bounded by what the checkpoint needs: members that can never
 * be used are skipped without being held, weight files are read up to
 * the size their own header declares, and every other file up to a fixed
 * limit (lr-formats(5), CHECKPOINTS). */
#include "config.h"
#include "io/checkpoint-int.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <jansson.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void ck_blob_release(ck_blob *b)
{
    if (b->mapped) {
        if (b->data) munmap(b->data, b->map_len);
    } else {
        free(b->data);
    }
    free(b->name);
    *b = (ck_blob){0};
}

void ck_blobs_free(ck_blob *b, size_t n)
{
    for (size_t i = 0; i < n; i++) ck_blob_release(&b[i]);
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

/* A member the loader can use: at most one directory deep (one common
 * top directory is stripped), not hidden, and not a weight format other
 * than safetensors. */
static bool is_wanted(const char *name)
{
    const char *slash = strchr(name, '/');
    if (slash && strchr(slash + 1, '/')) return false;
    const char *base = slash ? slash + 1 : name;
    if (!*base || base[0] == '.') return false;
    return ck_is_safetensors(base) || !ck_is_weight_file(base);
}

/* Read member bytes into *buf (grown as data arrives, so a lying header
 * cannot make us allocate more than the input holds) until *len reaches
 * `upto` or the member ends. */
static int read_upto(struct archive *a, char **buf, size_t *cap, size_t *len, size_t upto, const char *what,
                     const char *name, lr_error *err)
{
    while (*len < upto) {
        if (*len + 1 >= *cap) {
            size_t want = LR_MAX(*cap * 2, (size_t)1 << 16);
            if (want > upto + 1) want = upto + 1;
            *buf = lr_xrealloc(*buf, want);
            *cap = want;
        }
        la_ssize_t got = archive_read_data(a, *buf + *len, LR_MIN(*cap - *len - 1, upto - *len));
        if (got < 0) return lr_errorf(err, "%s: %s: %s", what, name, arc_msg(a));
        if (got == 0) break;
        *len += (size_t)got;
    }
    return 0;
}

/* Is there a byte past what was read? (read into a probe, not the buffer) */
static int more_data(struct archive *a, const char *what, const char *name, lr_error *err)
{
    char probe;
    la_ssize_t got = archive_read_data(a, &probe, 1);
    if (got < 0) return lr_errorf(err, "%s: %s: %s", what, name, arc_msg(a));
    return got > 0;
}

/* Read one wanted member; *total counts the bytes of non-weight files. */
static int read_member(struct archive *a, const char *what, const char *name, la_int64_t declared,
                       size_t *total, char **out, size_t *outlen, lr_error *err)
{
    const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    bool weights = ck_is_safetensors(base);
    size_t cap = 0, len = 0;
    char *buf = NULL;
    uint64_t limit;
    if (weights) {
        /* The length prefix, the header, then the data the header
         * declares (the parser checks the rest). */
        if (read_upto(a, &buf, &cap, &len, 8, what, name, err)) goto fail;
        limit = len;
        if (len == 8) {
            uint64_t hlen;
            memcpy(&hlen, buf, 8);
            if (hlen > CK_MAX_SAFETENSORS_HEADER) {
                lr_errorf(err, "%s: %s: header length %llu is not sane (limit %u)", what, name,
                          (unsigned long long)hlen, CK_MAX_SAFETENSORS_HEADER);
                goto fail;
            }
            limit = 8 + hlen;
            if (read_upto(a, &buf, &cap, &len, limit, what, name, err)) goto fail;
            uint64_t extent;
            if (len == limit) {
                if (ck_safetensors_extent(buf + 8, hlen, &extent) != 0) {
                    /* no data to read past a header that does not parse:
                     * the parser says what is wrong with it */
                    lr_tensor *t = NULL;
                    size_t nt = 0, tcap = 0;
                    char w[600];
                    snprintf(w, sizeof w, "%s: %s", what, name);
                    if (ck_safetensors_parse(buf, len, w, &t, &nt, &tcap, err) == 0)
                        lr_errorf(err, "%s: header is not a JSON object", w);
                    for (size_t i = 0; i < nt; i++) free(t[i].name);
                    free(t);
                    goto fail;
                }
                limit += extent;
            }
        }
        if (declared >= 0 && (uint64_t)declared > limit) {
            lr_errorf(err, "%s: %s: member of %lld bytes, but its header accounts for %llu", what, name,
                      (long long)declared, (unsigned long long)limit);
            goto fail;
        }
    } else {
        limit = CK_MAX_FILE;
        if (declared >= 0 && (uint64_t)declared > limit) {
            lr_errorf(err, "%s: %s: %lld bytes, more than the limit of %d MiB for a file other than weights", what,
                      name, (long long)declared, CK_MAX_FILE >> 20);
            goto fail;
        }
    }
    if (limit > SIZE_MAX - 1) limit = SIZE_MAX - 1;
    if (read_upto(a, &buf, &cap, &len, (size_t)limit, what, name, err)) goto fail;
    if (len == limit) {
        int more = more_data(a, what, name, err);
        if (more < 0) goto fail;
        if (more) {
            if (weights)
                lr_errorf(err, "%s: %s: data past the %llu bytes its header accounts for", what, name,
                          (unsigned long long)limit);
            else
                lr_errorf(err, "%s: %s: more than the limit of %d MiB for a file other than weights", what, name,
                          CK_MAX_FILE >> 20);
            goto fail;
        }
    }
    if (declared >= 0 && (la_int64_t)len != declared) {
        lr_errorf(err, "%s: %s: truncated member (%zu of %lld bytes)", what, name, len, (long long)declared);
        goto fail;
    }
    if (!weights) {
        *total += len;
        if (*total > CK_MAX_FILES_TOTAL) {
            lr_errorf(err, "%s: %s: the files other than weights exceed %d MiB in all", what, name,
                      CK_MAX_FILES_TOTAL >> 20);
            goto fail;
        }
    }
    if (!buf) buf = lr_xmalloc(1);
    buf[len] = 0;
    *out = buf;
    *outlen = len;
    return 0;
fail:
    free(buf);
    return -1;
}

int ck_tar_read(const char *path, const char *what, ck_blob **out, size_t *nout, lr_error *err)
{
    bool is_stdin = !path || strcmp(path, "-") == 0;
    struct archive *a = archive_read_new();
    /* compressions decoded in process; never an external program */
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_bzip2(a);
    archive_read_support_filter_xz(a);
    archive_read_support_filter_lzma(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_format_tar(a);
    int r;
    off_t file_size = -1;
    if (is_stdin) {
        r = archive_read_open_fd(a, 0, 1 << 16);
    } else {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) file_size = st.st_size;
        r = archive_read_open_filename(a, path, 1 << 16);
    }
    if (r != ARCHIVE_OK) {
        lr_errorf(err, "%s: cannot read tar: %s", what, arc_msg(a));
        archive_read_free(a);
        return -1;
    }
    ck_blob *b = NULL;
    size_t n = 0, cap = 0, total = 0;
    struct archive_entry *e;
    int nmembers = 0;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
        nmembers++;
        if (archive_entry_filetype(e) != AE_IFREG) continue;
        const char *name = skip_dot(archive_entry_pathname(e) ? archive_entry_pathname(e) : "");
        if (!*name || !is_wanted(name)) continue;   /* libarchive skips its data unread */
        /* a checkpoint is written back as a pax tar with UTF-8 names, so
         * a name that is not one would load but never save */
        if (!lr_utf8_valid(name, strlen(name))) {
            lr_errorf(err, "%s: member %d: name is not UTF-8", what, nmembers);
            goto fail;
        }
        la_int64_t declared = archive_entry_size_is_set(e) ? archive_entry_size(e) : -1;
        /* An uncompressed tar cannot hold a member larger than itself:
         * refuse lies before allocating. */
        if (declared > 0 && file_size >= 0 && archive_filter_count(a) <= 1 && declared > file_size) {
            lr_errorf(err, "%s: %s: member size %lld larger than the whole tar (%lld bytes): truncated tar", what, name,
                      (long long)declared, (long long)file_size);
            goto fail;
        }
        char *buf;
        size_t len;
        if (read_member(a, what, name, declared, &total, &buf, &len, err)) goto fail;
        /* A later member of the same name replaces the earlier (tar -r). */
        size_t i;
        for (i = 0; i < n; i++)
            if (strcmp(b[i].name, name) == 0) break;
        if (i < n) {
            free(b[i].data);
        } else {
            b = lr_grow(b, &cap, n + 1, sizeof *b);
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
