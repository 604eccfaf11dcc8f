/* textin.c - texts to encode: BEIR corpus.jsonl / queries.jsonl, or
 * id<TAB>text lines. */
#include "config.h"
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <strings.h>
#include <jansson.h>

enum { FMT_UNKNOWN, FMT_JSONL, FMT_TSV };

struct lr_text_reader {
    FILE *fp;
    bool is_stdin;
    char *path;        /* for messages */
    int fmt;
    int64_t line;
    char *buf;         /* getline buffer */
    size_t cap;
    char *id, *text;   /* current record (JSON: owned copies) */
    size_t id_cap, text_cap;
    lr_strmap seen;    /* id -> line where it first appeared */
};

static bool has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcasecmp(s + a - b, suf);
}

lr_text_reader *lr_text_open(const char *path, lr_error *err)
{
    bool in = !path || !strcmp(path, "-");
    FILE *fp = in ? stdin : fopen(path, "r");
    if (!fp) {
        lr_errorf(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    lr_text_reader *r = lr_xcalloc(1, sizeof *r);
    r->fp = fp;
    r->is_stdin = in;
    r->path = lr_xstrdup(in ? "stdin" : path);
    if (!in) {
        if (has_suffix(path, ".jsonl") || has_suffix(path, ".json") ||
            has_suffix(path, ".jsonl.gz"))
            r->fmt = FMT_JSONL;
        else if (has_suffix(path, ".tsv") || has_suffix(path, ".tab"))
            r->fmt = FMT_TSV;
    }
    return r;
}

void lr_text_close(lr_text_reader *r)
{
    if (!r) return;
    if (!r->is_stdin) fclose(r->fp);
    free(r->path);
    free(r->buf);
    free(r->id);
    free(r->text);
    lr_strmap_free(&r->seen);
    free(r);
}

int64_t lr_text_line(const lr_text_reader *r)
{
    return r->line;
}

static void set_str(char **dst, size_t *cap, const char *a, size_t na, const char *b, size_t nb)
{
    size_t n = na + (b ? 1 + nb : 0);
    *dst = lr_grow(*dst, cap, n + 1, 1);
    memcpy(*dst, a, na);
    if (b) {
        (*dst)[na] = ' ';
        memcpy(*dst + na + 1, b, nb);
    }
    (*dst)[n] = 0;
}

static int parse_json(lr_text_reader *r, const char *line, size_t len, lr_text *out, lr_error *err)
{
    json_error_t je;
    json_t *j = json_loadb(line, len, JSON_ALLOW_NUL, &je);
    if (!j)
        return lr_errorf(err, "%s: line %lld: invalid JSON at column %d: %s", r->path,
                         (long long)r->line, je.column, je.text);
    int rc = -1;
    char num[32];
    const char *id;
    size_t idlen;
    if (!json_is_object(j)) {
        lr_errorf(err, "%s: line %lld: expected a JSON object", r->path, (long long)r->line);
        goto out;
    }
    json_t *jid = json_object_get(j, "_id"), *jt = json_object_get(j, "text"),
           *jti = json_object_get(j, "title");
    if (!jid) {
        lr_errorf(err, "%s: line %lld: no \"_id\"", r->path, (long long)r->line);
        goto out;
    }
    if (json_is_string(jid)) {
        id = json_string_value(jid);
        idlen = json_string_length(jid);
    } else if (json_is_integer(jid)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(jid));
        id = num;
        idlen = strlen(num);
    } else {
        lr_errorf(err, "%s: line %lld: \"_id\" is not a string", r->path, (long long)r->line);
        goto out;
    }
    if (!idlen || memchr(id, 0, idlen)) {
        lr_errorf(err, "%s: line %lld: empty \"_id\"", r->path, (long long)r->line);
        goto out;
    }
    if (!jt || !json_is_string(jt)) {
        lr_errorf(err, "%s: line %lld: %s", r->path, (long long)r->line,
                  jt ? "\"text\" is not a string" : "no \"text\"");
        goto out;
    }
    if (jti && !json_is_string(jti) && !json_is_null(jti)) {
        lr_errorf(err, "%s: line %lld: \"title\" is not a string", r->path, (long long)r->line);
        goto out;
    }
    set_str(&r->id, &r->id_cap, id, idlen, NULL, 0);
    const char *title = jti && json_is_string(jti) ? json_string_value(jti) : "";
    size_t tl = jti && json_is_string(jti) ? json_string_length(jti) : 0;
    if (tl)   /* BEIR: "title text" when there is a title */
        set_str(&r->text, &r->text_cap, title, tl, json_string_value(jt), json_string_length(jt));
    else
        set_str(&r->text, &r->text_cap, json_string_value(jt), json_string_length(jt), NULL, 0);
    out->id = r->id;
    out->text = r->text;
    out->len = tl ? tl + 1 + json_string_length(jt) : json_string_length(jt);
    rc = 1;
out:
    json_decref(j);
    return rc;
}

static int parse_tsv(lr_text_reader *r, char *line, size_t len, lr_text *out, lr_error *err)
{
    char *tab = memchr(line, '\t', len);
    if (!tab)
        return lr_errorf(err, "%s: line %lld: expected id<TAB>text", r->path, (long long)r->line);
    if (tab == line)
        return lr_errorf(err, "%s: line %lld: empty id", r->path, (long long)r->line);
    *tab = 0;
    if (memchr(line, 0, tab - line) || memchr(tab + 1, 0, len - (tab + 1 - line)))
        return lr_errorf(err, "%s: line %lld: NUL byte", r->path, (long long)r->line);
    out->id = line;
    out->text = tab + 1;
    out->len = len - (size_t)(tab + 1 - line);
    return 1;
}

int lr_text_next(lr_text_reader *r, lr_text *out, lr_error *err)
{
    for (;;) {
        errno = 0;
        ssize_t n = getline(&r->buf, &r->cap, r->fp);
        if (n < 0) {
            if (ferror(r->fp))
                return lr_errorf(err, "%s: read error: %s", r->path, strerror(errno ? errno : EIO));
            return 0;
        }
        r->line++;
        char *s = r->buf;
        size_t len = (size_t)n;
        if (r->line == 1 && len >= 3 && !memcmp(s, "\xef\xbb\xbf", 3)) s += 3, len -= 3;  /* BOM */
        while (len && (s[len - 1] == '\n' || s[len - 1] == '\r')) len--;
        s[len] = 0;
        size_t k = 0;
        while (k < len && (s[k] == ' ' || s[k] == '\t')) k++;
        if (k == len) continue;   /* blank line */
        if (r->fmt == FMT_UNKNOWN) r->fmt = s[k] == '{' ? FMT_JSONL : FMT_TSV;
        int rc = r->fmt == FMT_JSONL ? parse_json(r, s, len, out, err) : parse_tsv(r, s, len, out, err);
        if (rc == 1) {
            /* a run names documents and queries by id: two texts with one
             * id could not be told apart */
            int first = lr_strmap_get(&r->seen, out->id);
            if (first >= 0)
                return lr_errorf(err, "%s: line %lld: id \"%s\" appears again (first at line %d)", r->path,
                                 (long long)r->line, out->id, first);
            lr_strmap_put(&r->seen, out->id, r->line < INT_MAX ? (int)r->line : INT_MAX);
        }
        return rc;
    }
}
