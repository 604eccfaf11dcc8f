/*
 * trec.c - qrels and TREC runs: reading, grouping by query, writing.
 *
 * Both files become lr_trec: queries sorted by qid, entries by docno,
 * the same canonical order trec_eval builds before evaluating.
 */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>

typedef struct {
    char *qid, *docno;
    double value;
    long line;
} entry;

typedef struct {
    entry *e;
    size_t n, cap;
} entries;

static void push(entries *v, const char *qid, const char *docno, double value, long line)
{
    v->e = lr_grow(v->e, &v->cap, v->n + 1, sizeof *v->e);
    v->e[v->n++] = (entry){lr_xstrdup(qid), lr_xstrdup(docno), value, line};
}

static int cmp_entry(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    int c = strcmp(x->qid, y->qid);
    if (c) return c;
    c = strcmp(x->docno, y->docno);
    if (c) return c;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* Split a line on blanks into at most max fields; returns the count
 * (max + 1 when there are more). */
static int split(char *s, char **f, int max)
{
    int n = 0;
    for (;;) {
        while (*s && isspace((unsigned char)*s)) s++;
        if (!*s) return n;
        if (n == max) return max + 1;
        f[n++] = s;
        while (*s && !isspace((unsigned char)*s)) s++;
        if (*s) *s++ = 0;
    }
}

static bool parse_int(const char *s, long *v)
{
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (end == s || *end || errno) return false;
    *v = x;
    return true;
}

static bool parse_score(const char *s, double *v)
{
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || *end || !isfinite(x)) return false;
    *v = x;
    return true;
}

/* Group sorted entries into topics; duplicates are an error. */
static lr_trec *group(const char *path, entries *v, const char *what, lr_error *err)
{
    if (v->n) qsort(v->e, v->n, sizeof *v->e, cmp_entry);   /* e is NULL when empty */
    for (size_t i = 1; i < v->n; i++)
        if (!strcmp(v->e[i].qid, v->e[i - 1].qid) && !strcmp(v->e[i].docno, v->e[i - 1].docno)) {
            lr_errorf(err, "%s: line %ld: %s %s lists document %s again (first at line %ld)",
                      path, v->e[i].line, what, v->e[i].qid, v->e[i].docno, v->e[i - 1].line);
            return NULL;
        }
    lr_trec *t = lr_xcalloc(1, sizeof *t);
    t->path = lr_xstrdup(path);
    size_t nq = 0;
    for (size_t i = 0; i < v->n; i++)
        if (i == 0 || strcmp(v->e[i].qid, v->e[i - 1].qid)) nq++;
    t->topics = lr_xcalloc(nq ? nq : 1, sizeof *t->topics);
    for (size_t i = 0, j; i < v->n; i = j) {
        for (j = i; j < v->n && !strcmp(v->e[j].qid, v->e[i].qid); j++) {}
        lr_topic *tp = &t->topics[t->n++];
        tp->qid = v->e[i].qid;
        tp->n = (int)(j - i);
        tp->docno = lr_xmalloc((j - i) * sizeof *tp->docno);
        tp->value = lr_xmalloc((j - i) * sizeof *tp->value);
        for (size_t k = i; k < j; k++) {
            tp->docno[k - i] = v->e[k].docno;
            tp->value[k - i] = v->e[k].value;
            if (k > i) free(v->e[k].qid);
            v->e[k].qid = v->e[k].docno = NULL;
        }
    }
    return t;
}

static void entries_free(entries *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free(v->e[i].qid);
        free(v->e[i].docno);
    }
    free(v->e);
}

static FILE *open_in(const char *path, lr_error *err)
{
    if (!strcmp(path, "-")) return stdin;
    FILE *f = fopen(path, "r");
    if (!f) lr_errorf(err, "%s: %s", path, strerror(errno));
    return f;
}

static void close_in(FILE *f)
{
    if (f && f != stdin) fclose(f);
}

lr_trec *lr_qrels_load(const char *path, lr_error *err)
{
    FILE *f = open_in(path, err);
    if (!f) return NULL;
    const char *name = strcmp(path, "-") ? path : "stdin";
    entries v = {0};
    char *line = NULL, *fld[5];
    size_t cap = 0;
    long lineno = 0;
    int layout = 0;   /* 3 = BEIR, 4 = TREC, fixed by the first data line */
    lr_trec *t = NULL;
    while (getline(&line, &cap, f) > 0) {
        lineno++;
        int n = split(line, fld, 4);
        if (n == 0) continue;
        if (layout == 0) {
            long dummy;
            if (n == 3 && !parse_int(fld[2], &dummy) && lineno == 1) {
                layout = 3;   /* BEIR header: query-id corpus-id score */
                continue;
            }
            if (n != 3 && n != 4) {
                lr_errorf(err, "%s: line %ld: expected 4 fields (qid iter docno rel) "
                          "or 3 (query-id corpus-id score), found %d", name, lineno, n);
                goto out;
            }
            layout = n;
        }
        if (n != layout) {
            lr_errorf(err, "%s: line %ld: expected %d fields (%s), found %d%s", name, lineno,
                      layout, layout == 4 ? "qid iter docno rel" : "query-id corpus-id score",
                      n > 4 ? 4 : n, n > 4 ? " or more" : "");
            goto out;
        }
        long rel;
        const char *rs = fld[layout - 1];
        if (!parse_int(rs, &rel) || rel > INT32_MAX || rel < INT32_MIN) {
            lr_errorf(err, "%s: line %ld: relevance \"%s\" is not an integer", name, lineno, rs);
            goto out;
        }
        push(&v, fld[0], fld[layout - 2], (double)rel, lineno);
    }
    if (ferror(f)) {
        lr_errorf(err, "%s: read error: %s", name, strerror(errno));
        goto out;
    }
    if (v.n == 0) {
        lr_errorf(err, "%s: no judgements", name);
        goto out;
    }
    t = group(name, &v, "query", err);
out:
    entries_free(&v);
    free(line);
    close_in(f);
    return t;
}

lr_trec *lr_run_load(const char *path, lr_error *err)
{
    FILE *f = open_in(path, err);
    if (!f) return NULL;
    const char *name = strcmp(path, "-") ? path : "stdin";
    entries v = {0};
    char *line = NULL, *fld[7], *tag = NULL;
    size_t cap = 0;
    long lineno = 0;
    lr_trec *t = NULL;
    while (getline(&line, &cap, f) > 0) {
        lineno++;
        int n = split(line, fld, 6);
        if (n == 0 || fld[0][0] == '#') continue;
        if (n < 6) {
            lr_errorf(err, "%s: line %ld: expected 6 fields (qid Q0 docno rank score tag), "
                      "found %d", name, lineno, n);
            goto out;
        }
        double score;
        if (!parse_score(fld[4], &score)) {
            lr_errorf(err, "%s: line %ld: score \"%s\" is not a number", name, lineno, fld[4]);
            goto out;
        }
        push(&v, fld[0], fld[2], score, lineno);
        free(tag);
        tag = lr_xstrdup(fld[5]);
    }
    if (ferror(f)) {
        lr_errorf(err, "%s: read error: %s", name, strerror(errno));
        goto out;
    }
    t = group(name, &v, "query", err);
    if (t) {
        t->tag = tag;
        tag = NULL;
    }
out:
    free(tag);
    entries_free(&v);
    free(line);
    close_in(f);
    return t;
}

static int cmp_topic_qid(const void *key, const void *b)
{
    return strcmp(key, ((const lr_topic *)b)->qid);
}

const lr_topic *lr_trec_find(const lr_trec *t, const char *qid)
{
    if (!t || t->n == 0) return NULL;
    return bsearch(qid, t->topics, t->n, sizeof *t->topics, cmp_topic_qid);
}

void lr_trec_free(lr_trec *t)
{
    if (!t) return;
    for (int i = 0; i < t->n; i++) {
        lr_topic *tp = &t->topics[i];
        for (int j = 0; j < tp->n; j++) free(tp->docno[j]);
        free(tp->docno);
        free(tp->value);
        free(tp->qid);
    }
    free(t->topics);
    free(t->path);
    free(t->tag);
    free(t);
}

static int cmp_hit(const void *a, const void *b)
{
    const lr_hit *x = a, *y = b;
    if (x->score > y->score) return -1;
    if (x->score < y->score) return 1;
    return strcmp(y->docno, x->docno);
}

void lr_hits_sort(lr_hit *h, size_t n)
{
    qsort(h, n, sizeof *h, cmp_hit);
}

int lr_run_write_topic(FILE *f, const char *qid, const lr_hit *h, int n, const char *tag)
{
    for (int i = 0; i < n; i++)
        if (fprintf(f, "%s Q0 %s %d %.9g %s\n", qid, h[i].docno, i + 1, h[i].score, tag) < 0)
            return -1;
    return 0;
}

/* ---------------- merging the runs of shards ---------------- */

typedef struct {
    const char *qid;
    int run, topic;
} topic_ref;

static int cmp_topic_ref(const void *a, const void *b)
{
    const topic_ref *x = a, *y = b;
    int c = strcmp(x->qid, y->qid);
    return c ? c : x->run - y->run;
}

typedef struct {
    lr_hit h;
    int run;
} run_hit;

static int cmp_run_hit_docno(const void *a, const void *b)
{
    return strcmp(((const run_hit *)a)->h.docno, ((const run_hit *)b)->h.docno);
}

lr_trec *lr_runs_merge(lr_trec *const *runs, int n, int k, lr_error *err)
{
    size_t nref = 0;
    for (int r = 0; r < n; r++) nref += (size_t)runs[r]->n;
    topic_ref *ref = lr_xmalloc((nref + 1) * sizeof *ref);
    nref = 0;
    for (int r = 0; r < n; r++)
        for (int t = 0; t < runs[r]->n; t++) ref[nref++] = (topic_ref){runs[r]->topics[t].qid, r, t};
    qsort(ref, nref, sizeof *ref, cmp_topic_ref);
    size_t nq = 0;
    for (size_t i = 0; i < nref; i++)
        if (i == 0 || strcmp(ref[i].qid, ref[i - 1].qid)) nq++;
    lr_trec *out = lr_xcalloc(1, sizeof *out);
    out->path = lr_xstrdup(n ? runs[0]->path : "merged runs");
    out->topics = lr_xcalloc(nq + 1, sizeof *out->topics);
    run_hit *rh = NULL;
    lr_hit *h = NULL;
    size_t rh_cap = 0, h_cap = 0;
    for (size_t i = 0, j; i < nref; i = j) {
        size_t nh = 0;
        for (j = i; j < nref && !strcmp(ref[j].qid, ref[i].qid); j++)
            nh += (size_t)runs[ref[j].run]->topics[ref[j].topic].n;
        rh = lr_grow(rh, &rh_cap, nh, sizeof *rh);
        h = lr_grow(h, &h_cap, nh, sizeof *h);
        nh = 0;
        for (size_t x = i; x < j; x++) {
            const lr_topic *tp = &runs[ref[x].run]->topics[ref[x].topic];
            for (int e = 0; e < tp->n; e++)
                rh[nh++] = (run_hit){{tp->docno[e], tp->value[e]}, ref[x].run};
        }
        /* within one run a document is listed once (lr_run_load checks) */
        qsort(rh, nh, sizeof *rh, cmp_run_hit_docno);
        for (size_t e = 1; e < nh; e++)
            if (!strcmp(rh[e].h.docno, rh[e - 1].h.docno)) {
                lr_errorf(err, "%s: query %s: document %s is also in %s: the shards overlap",
                          runs[LR_MAX(rh[e].run, rh[e - 1].run)]->path, ref[i].qid, rh[e].h.docno,
                          runs[LR_MIN(rh[e].run, rh[e - 1].run)]->path);
                free(rh);
                free(h);
                free(ref);
                lr_trec_free(out);
                return NULL;
            }
        for (size_t e = 0; e < nh; e++) h[e] = rh[e].h;
        lr_hits_sort(h, nh);
        int keep = (int)LR_MIN(nh, (size_t)k);
        lr_topic *t = &out->topics[out->n++];
        t->qid = lr_xstrdup(ref[i].qid);
        t->n = keep;
        t->docno = lr_xmalloc(((size_t)keep + 1) * sizeof *t->docno);
        t->value = lr_xmalloc(((size_t)keep + 1) * sizeof *t->value);
        for (int e = 0; e < keep; e++) {
            t->docno[e] = lr_xstrdup(h[e].docno);
            t->value[e] = h[e].score;
        }
    }
    free(rh);
    free(h);
    free(ref);
    return out;
}
