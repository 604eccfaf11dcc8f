/*
 * metrics.c - retrieval measures with trec_eval 10.0's definitions.
 *
 * Per query, the run is ranked by score descending with ties broken by
 * docno descending (trec_eval ignores the rank column).  A document is
 * relevant when its qrels value is >= 1; nDCG's gain is the qrels value,
 * its discount log2(rank + 1), and the ideal ranking uses every judged
 * document of the query.
 */
#include "internal.h"

#include <errno.h>
#include <math.h>

static const int default_cutoffs[] = {5, 10, 15, 20, 30, 100, 200, 500, 1000};

static const struct {
    const char *name;
    lr_measure_kind kind;
    bool cut;
} kinds[] = {
    {"map", LR_M_MAP, false},
    {"recip_rank", LR_M_RECIP_RANK, false},
    {"P", LR_M_P, true},
    {"recall", LR_M_RECALL, true},
    {"ndcg_cut", LR_M_NDCG_CUT, true},
    {"MRR", LR_M_MRR, true},
};

static int cmp_measure(const void *a, const void *b)
{
    const lr_measure *x = a, *y = b;
    if (x->kind != y->kind) return x->kind < y->kind ? -1 : 1;
    return x->cutoff < y->cutoff ? -1 : x->cutoff > y->cutoff;
}

static void add_one(lr_measure **ms, int *n, lr_measure_kind kind, int cutoff)
{
    for (int i = 0; i < *n; i++)
        if ((*ms)[i].kind == kind && (*ms)[i].cutoff == cutoff) return;
    *ms = lr_xrealloc(*ms, (*n + 1) * sizeof **ms);
    lr_measure *m = &(*ms)[(*n)++];
    memset(m, 0, sizeof *m);
    m->kind = kind;
    m->cutoff = cutoff;
    if (kind == LR_M_MRR) snprintf(m->name, sizeof m->name, "MRR@%d", cutoff);
    else if (cutoff) snprintf(m->name, sizeof m->name, "%s_%d", kinds[kind].name, cutoff);
    else snprintf(m->name, sizeof m->name, "%s", kinds[kind].name);
}

int lr_measures_add(lr_measure **ms, int *n, const char *spec, lr_error *err)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", spec);
    char *params = strpbrk(buf, ".@");
    if (params) *params++ = 0;
    int k;
    for (k = 0; k < (int)LR_ARRAY_LEN(kinds); k++)
        if (!strcmp(buf, kinds[k].name)) break;
    if (k == (int)LR_ARRAY_LEN(kinds))
        return lr_errorf(err, "unknown measure \"%s\" (known: map, recip_rank, P.k, recall.k, "
                         "ndcg_cut.k, MRR@k)", spec);
    if (!kinds[k].cut) {
        if (params) return lr_errorf(err, "measure %s takes no cutoffs: \"%s\"", buf, spec);
        add_one(ms, n, kinds[k].kind, 0);
    } else if (!params) {
        if (kinds[k].kind == LR_M_MRR) add_one(ms, n, LR_M_MRR, 10);
        else
            for (size_t i = 0; i < LR_ARRAY_LEN(default_cutoffs); i++)
                add_one(ms, n, kinds[k].kind, default_cutoffs[i]);
    } else {
        char *save = NULL;
        int count = 0;
        for (char *t = strtok_r(params, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            char *end;
            errno = 0;
            long c = strtol(t, &end, 10);
            if (end == t || *end || errno || c <= 0 || c > 100000000)
                return lr_errorf(err, "measure \"%s\": cutoff \"%s\" is not a positive integer",
                                 spec, t);
            add_one(ms, n, kinds[k].kind, (int)c);
            count++;
        }
        if (!count) return lr_errorf(err, "measure \"%s\": no cutoffs", spec);
    }
    qsort(*ms, *n, sizeof **ms, cmp_measure);
    return 0;
}

int lr_measures_default(lr_measure **ms, int *n)
{
    static const char *def[] = {"ndcg_cut.10", "recall.100", "recip_rank", "map"};
    for (size_t i = 0; i < LR_ARRAY_LEN(def); i++) lr_measures_add(ms, n, def[i], NULL);
    return 0;
}

static int cmp_docno(const void *key, const void *b)
{
    return strcmp(key, *(char *const *)b);
}

static int cmp_gain_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x > y ? -1 : x < y;
}

/* Evaluate one query.  rel[i] is the qrels value of the document at rank
 * i + 1 (-1 when not judged). */
static void eval_query(const lr_topic *qt, const lr_topic *rt, bool ignore_ids,
                       const lr_measure *ms, int nm, double *out)
{
    int nret = 0;
    lr_hit *hits = lr_xmalloc((rt ? rt->n : 0) * sizeof *hits + 1);
    for (int i = 0; rt && i < rt->n; i++) {
        if (ignore_ids && !strcmp(rt->docno[i], qt->qid)) continue;
        hits[nret++] = (lr_hit){rt->docno[i], rt->value[i]};
    }
    lr_hits_sort(hits, nret);
    double *rel = lr_xmalloc((nret + 1) * sizeof *rel);
    for (int i = 0; i < nret; i++) {
        char *const *p = bsearch(hits[i].docno, qt->docno, qt->n, sizeof *qt->docno, cmp_docno);
        rel[i] = p ? qt->value[p - qt->docno] : -1;
    }
    free(hits);

    int num_rel = 0, ngain = 0;
    double *gains = lr_xmalloc((qt->n + 1) * sizeof *gains);
    for (int i = 0; i < qt->n; i++) {
        if (qt->value[i] >= 1) num_rel++;
        if (qt->value[i] > 0) gains[ngain++] = qt->value[i];
    }
    qsort(gains, ngain, sizeof *gains, cmp_gain_desc);

    for (int m = 0; m < nm; m++) {
        int k = ms[m].cutoff;
        double v = 0;
        switch (ms[m].kind) {
        case LR_M_MAP: {
            double sum = 0;
            int found = 0;
            for (int i = 0; i < nret; i++)
                if (rel[i] >= 1) sum += (double)++found / (i + 1);
            v = num_rel ? sum / num_rel : 0;
            break;
        }
        case LR_M_RECIP_RANK:
        case LR_M_MRR: {
            int lim = ms[m].kind == LR_M_MRR ? LR_MIN(k, nret) : nret;
            for (int i = 0; i < lim; i++)
                if (rel[i] >= 1) {
                    v = 1.0 / (i + 1);
                    break;
                }
            break;
        }
        case LR_M_P:
        case LR_M_RECALL: {
            int found = 0, lim = LR_MIN(k, nret);
            for (int i = 0; i < lim; i++) found += rel[i] >= 1;
            if (ms[m].kind == LR_M_P) v = (double)found / k;
            else v = num_rel ? (double)found / num_rel : 0;
            break;
        }
        case LR_M_NDCG_CUT: {
            double dcg = 0, idcg = 0;
            for (int i = 0; i < LR_MIN(k, nret); i++)
                if (rel[i] > 0) dcg += rel[i] / log2((double)(i + 2));
            for (int i = 0; i < LR_MIN(k, ngain); i++) idcg += gains[i] / log2((double)(i + 2));
            v = idcg > 0 ? dcg / idcg : dcg;
            break;
        }
        }
        out[m] = v;
    }
    free(rel);
    free(gains);
}

lr_eval_result *lr_evaluate(const lr_trec *qrels, const lr_trec *run, const lr_measure *ms,
                            int nm, bool complete, bool ignore_identical_ids, lr_error *err)
{
    lr_eval_result *r = lr_xcalloc(1, sizeof *r);
    r->nm = nm;
    r->measures = lr_xmalloc(nm * sizeof *ms + 1);
    memcpy(r->measures, ms, nm * sizeof *ms);
    r->qids = lr_xmalloc((run->n + 1) * sizeof *r->qids);
    r->values = lr_xmalloc(((size_t)run->n * nm + 1) * sizeof *r->values);
    r->mean = lr_xcalloc(nm + 1, sizeof *r->mean);
    for (int i = 0; i < run->n; i++) {
        const lr_topic *qt = lr_trec_find(qrels, run->topics[i].qid);
        if (!qt) continue;
        double *v = &r->values[(size_t)r->nq * nm];
        eval_query(qt, &run->topics[i], ignore_identical_ids, ms, nm, v);
        r->qids[r->nq++] = lr_xstrdup(qt->qid);
        for (int m = 0; m < nm; m++) r->mean[m] += v[m];
    }
    if (r->nq == 0) {
        lr_errorf(err, "%s and %s have no query in common", run->path, qrels->path);
        lr_eval_result_free(r);
        return NULL;
    }
    r->n_avg = complete ? qrels->n : r->nq;
    for (int m = 0; m < nm; m++) r->mean[m] /= r->n_avg;
    return r;
}

void lr_eval_result_free(lr_eval_result *r)
{
    if (!r) return;
    for (int i = 0; i < r->nq; i++) free(r->qids[i]);
    free(r->qids);
    free(r->values);
    free(r->mean);
    free(r->measures);
    free(r);
}
