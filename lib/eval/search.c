/*
 * search.c - exact maximum-inner-product top-k search by blocked GEMM.
 *
 * Each block of documents is scored against every query with one GEMM
 * (queries x block); each query then keeps its k best in a min-heap
 * ordered like trec_eval's ranking (score, then docno), so the kept set
 * and its order do not depend on the block size or on the order the
 * documents arrive in.
 */
#include "config.h"
#include "internal.h"

#include <math.h>

struct lr_search {
    int nq, dim, k;
    float *q;
    char **qids;
    bool skip_same_id;
    /* every document id, NUL-separated, and their offsets */
    char *pool;
    size_t pool_len, pool_cap;
    size_t *off;
    int64_t ndocs;
    size_t off_cap;
    /* per query heap: k entries of (score, document index) */
    float *hs;
    int64_t *hd;
    int *hn;
    float *scores;     /* nq x block */
    size_t scores_cap;
    lr_hit *hits;      /* nq x k once finished */
    int *nhits;
    bool finished;
};

lr_search *lr_search_new(const float *queries, int nq, int dim, int k,
                         const char *const *qids, bool skip_same_id)
{
    lr_search *s = lr_xcalloc(1, sizeof *s);
    s->nq = nq;
    s->dim = dim;
    s->k = k;
    s->q = lr_xmalloc((size_t)nq * dim * sizeof *s->q);
    memcpy(s->q, queries, (size_t)nq * dim * sizeof *s->q);
    if (qids) {
        s->qids = lr_xmalloc(nq * sizeof *s->qids + 1);
        for (int i = 0; i < nq; i++) s->qids[i] = lr_xstrdup(qids[i]);
    }
    s->skip_same_id = skip_same_id && qids;
    s->hs = lr_xmalloc((size_t)nq * k * sizeof *s->hs);
    s->hd = lr_xmalloc((size_t)nq * k * sizeof *s->hd);
    s->hn = lr_xcalloc(nq, sizeof *s->hn);
    return s;
}

#define ID(s, d) ((s)->pool + (s)->off[d])

/* a ranks below b (trec_eval order: lower score, or equal score and
 * lower docno) */
static inline bool worse(const lr_search *s, float sa, int64_t da, float sb, int64_t db)
{
    if (sa != sb) return sa < sb;
    return strcmp(ID(s, da), ID(s, db)) < 0;
}

static void sift_down(const lr_search *s, float *hs, int64_t *hd, int n, int i)
{
    float x = hs[i];
    int64_t d = hd[i];
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && worse(s, hs[c + 1], hd[c + 1], hs[c], hd[c])) c++;
        if (!worse(s, hs[c], hd[c], x, d)) break;
        hs[i] = hs[c];
        hd[i] = hd[c];
        i = c;
    }
    hs[i] = x;
    hd[i] = d;
}

static void sift_up(const lr_search *s, float *hs, int64_t *hd, int i)
{
    float x = hs[i];
    int64_t d = hd[i];
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!worse(s, x, d, hs[p], hd[p])) break;
        hs[i] = hs[p];
        hd[i] = hd[p];
        i = p;
    }
    hs[i] = x;
    hd[i] = d;
}

static void update(lr_search *s, int q, const float *row, int nd, int64_t base)
{
    float *hs = s->hs + (size_t)q * s->k;
    int64_t *hd = s->hd + (size_t)q * s->k;
    int n = s->hn[q], k = s->k;
    const char *qid = s->skip_same_id ? s->qids[q] : NULL;
    int j = 0;
    /* fill the heap */
    for (; j < nd && n < k; j++) {
        float x = row[j];
        if (isnan(x) || (qid && !strcmp(ID(s, base + j), qid))) continue;
        hs[n] = x;
        hd[n] = base + j;
        sift_up(s, hs, hd, n++);
    }
    /* then only scores reaching the weakest kept one matter */
    for (; j < nd; j++) {
        float x = row[j];
        if (!(x >= hs[0])) continue;
        if (x == hs[0] && strcmp(ID(s, base + j), ID(s, hd[0])) <= 0) continue;
        if (qid && !strcmp(ID(s, base + j), qid)) continue;
        hs[0] = x;
        hd[0] = base + j;
        sift_down(s, hs, hd, n, 0);
    }
    s->hn[q] = n;
}

typedef struct update_job {
    lr_search *s;
    int nd;
    int64_t base;
} update_job;

static void update_queries(void *ctx, long lo, long hi)
{
    const update_job *j = ctx;
    for (long q = lo; q < hi; q++)
        update(j->s, (int)q, j->s->scores + (size_t)q * j->nd, j->nd, j->base);
}

void lr_search_add(lr_search *s, const float *docs, int nd, const char *const *ids)
{
    if (nd <= 0) return;
    s->finished = false;
    /* keep the ids */
    s->off = lr_grow(s->off, &s->off_cap, (size_t)s->ndocs + nd, sizeof *s->off);
    for (int j = 0; j < nd; j++) {
        size_t len = strlen(ids[j]) + 1;
        s->pool = lr_grow(s->pool, &s->pool_cap, s->pool_len + len, 1);
        memcpy(s->pool + s->pool_len, ids[j], len);
        s->off[s->ndocs + j] = s->pool_len;
        s->pool_len += len;
    }
    int64_t base = s->ndocs;
    s->ndocs += nd;

    size_t need = (size_t)s->nq * nd;
    if (need > s->scores_cap) {
        free(s->scores);
        s->scores = lr_xmalloc(need * sizeof *s->scores);
        s->scores_cap = need;
    }
    lr_sgemm(false, true, s->nq, nd, s->dim, 1.0f, s->q, s->dim, docs, s->dim, 0.0f,
             s->scores, nd);
    update_job j = {s, nd, base};
    lr_par_range(s->nq, (double)s->nq * nd, update_queries, &j);
}

static void finish(lr_search *s)
{
    if (s->finished) return;
    free(s->hits);
    free(s->nhits);
    s->hits = lr_xmalloc(((size_t)s->nq * s->k + 1) * sizeof *s->hits);
    s->nhits = lr_xmalloc((s->nq + 1) * sizeof *s->nhits);
    for (int q = 0; q < s->nq; q++) {
        lr_hit *h = s->hits + (size_t)q * s->k;
        int n = s->hn[q];
        for (int i = 0; i < n; i++) {
            size_t at = (size_t)q * s->k + i;
            h[i] = (lr_hit){ID(s, s->hd[at]), s->hs[at]};
        }
        lr_hits_sort(h, n);
        s->nhits[q] = n;
    }
    s->finished = true;
}

int lr_search_hits(lr_search *s, int q, const lr_hit **hits)
{
    finish(s);
    *hits = s->hits + (size_t)q * s->k;
    return s->nhits[q];
}

int64_t lr_search_ndocs(const lr_search *s) { return s->ndocs; }

void lr_search_free(lr_search *s)
{
    if (!s) return;
    if (s->qids)
        for (int i = 0; i < s->nq; i++) free(s->qids[i]);
    free(s->qids);
    free(s->q);
    free(s->pool);
    free(s->off);
    free(s->hs);
    free(s->hd);
    free(s->hn);
    free(s->scores);
    free(s->hits);
    free(s->nhits);
    free(s);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_topic(const void *a, const void *b)
{
    return strcmp(((const lr_topic *)a)->qid, ((const lr_topic *)b)->qid);
}

lr_trec *lr_search_run(lr_search *s, const char *queries, const char *docs, const char *tag,
                       lr_error *err)
{
    if (!s->qids) return lr_errorf(err, "%s: the search has no query ids", queries), NULL;
    lr_trec *run = lr_xcalloc(1, sizeof *run);
    run->path = lr_xstrdup(queries);
    run->tag = lr_xstrdup(tag ? tag : "");
    run->topics = lr_xcalloc((size_t)s->nq + 1, sizeof *run->topics);
    for (int i = 0; i < s->nq; i++) {
        const lr_hit *h;
        int n = lr_search_hits(s, i, &h);
        lr_topic *t = &run->topics[run->n++];
        t->qid = lr_xstrdup(s->qids[i]);
        t->docno = lr_xmalloc(((size_t)n + 1) * sizeof *t->docno);
        t->value = lr_xmalloc(((size_t)n + 1) * sizeof *t->value);
        for (int j = 0; j < n; j++) {
            t->docno[j] = lr_xstrdup(h[j].docno);
            t->value[j] = h[j].score;
            t->n++;
        }
        /* a document listed twice would make an invalid run */
        char **sorted = lr_xmalloc(((size_t)n + 1) * sizeof *sorted);
        memcpy(sorted, t->docno, (size_t)n * sizeof *sorted);
        qsort(sorted, (size_t)n, sizeof *sorted, cmp_str);
        for (int j = 1; j < n; j++)
            if (!strcmp(sorted[j], sorted[j - 1])) {
                lr_errorf(err, "%s: document id %s appears more than once", docs, sorted[j]);
                free(sorted);
                lr_trec_free(run);
                return NULL;
            }
        free(sorted);
    }
    qsort(run->topics, (size_t)run->n, sizeof *run->topics, cmp_topic);
    for (int i = 1; i < run->n; i++)
        if (!strcmp(run->topics[i].qid, run->topics[i - 1].qid)) {
            lr_errorf(err, "%s: query id %s appears twice", queries, run->topics[i].qid);
            lr_trec_free(run);
            return NULL;
        }
    return run;
}
