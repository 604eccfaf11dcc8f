/*
 * lr-eval - exact dense search and trec_eval-exact retrieval measures.
 *
 *   lr-eval --qrels QRELS --queries Q.mp --docs D.mp [--write-run RUN]
 *   lr-eval --qrels QRELS --run RUN.trec
 *   lr-eval --qrels QRELS --run BASELINE --run RUN... [--test NAME]
 *   lr-eval [--qrels QRELS] --merge SHARD.run... [--write-run RUN]
 */
#include "config.h"
#include "lr.h"

#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(void)
{
    printf("Usage: lr-eval --qrels QRELS (--run RUN | --queries Q.mp --docs D.mp) [OPTION]...\n"
           "  or:  lr-eval --qrels QRELS --run BASELINE --run RUN... [--test NAME] [OPTION]...\n"
           "  or:  lr-eval [--qrels QRELS] --merge RUN... [--write-run RUN] [OPTION]...\n"
           "Evaluate a TREC run, or search document embeddings exactly for each query\n"
           "embedding, and print retrieval measures as trec_eval 10.0 computes them.\n"
           "Given several runs, compare each with the first, query by query, with a\n"
           "paired significance test.\n"
           "\n"
           "Inputs:\n"
           "  -Q, --qrels FILE          judgements, TREC (qid iter docno rel) or BEIR\n"
           "                            (query-id corpus-id score, header line) layout\n"
           "  -r, --run FILE            evaluate this TREC run (qid Q0 docno rank score tag);\n"
           "                            may repeat: the first is the baseline of a comparison;\n"
           "                            FILE,FILE... are runs of one system (seeds, draws),\n"
           "                            compared by their per-query mean\n"
           "      --queries FILE        query embeddings stream (lr.embeddings)\n"
           "      --docs FILE           document embeddings stream; read block by block\n"
           "  -k, --top N               documents retrieved per query (default 1000)\n"
           "      --block N             documents per GEMM block (default 8192)\n"
           "      --write-run FILE      write the dense search's or the merge's run (qid Q0\n"
           "                            docno rank score tag); without --qrels, only that\n"
           "      --tag TAG             run tag written by --write-run (default lr)\n"
           "      --merge RUN           a run of one shard of the documents (- for stdin;\n"
           "                            repeat for every shard, or concatenate them): merge\n"
           "                            them into the top --top of the whole collection,\n"
           "                            exactly as one search over it would rank\n"
           "\n"
           "Measures (trec_eval's names and definitions):\n"
           "  -m, --measure SPEC        map, recip_rank, P.k, recall.k, ndcg_cut.k, MRR@k;\n"
           "                            cutoffs as in trec_eval (ndcg_cut.5,10,100); may repeat;\n"
           "                            default: ndcg_cut.10 recall.100 recip_rank map\n"
           "  -c, --complete            average over every qrels query (missing ones score 0)\n"
           "      --ignore-identical-ids  drop results whose docno equals the query id\n"
           "  -q, --per-query           also print each query's values\n"
           "\n"
           "Comparing runs (two or more --run, or --run and a dense search, whose run\n"
           "comes last):\n"
           "      --test NAME           t (paired t test), wilcoxon (signed-rank), or\n"
           "                            randomization (default: Fisher's, sign flips)\n"
           "      --trials N            random sign assignments of the randomization test\n"
           "                            and resamples of --ci (default 10000)\n"
           "      --seed N              seed of the trials and resamples (default 1)\n"
           "      --correction NAME     holm (default), bonferroni or none, over all the\n"
           "                            comparisons of the invocation\n"
           "      --alpha A             level marking significant rows (default 0.05)\n"
           "      --ci                  add a 95%% paired bootstrap interval of each delta\n"
           "\n"
           "Output:\n"
           "  -f, --format FMT          table (default), tsv (measure query value), json,\n"
           "                            or trec_eval (byte-compatible with trec_eval's output);\n"
           "                            comparing: table, tsv (run measure queries mean delta\n"
           "                            p p_adjusted) or json\n"
           "  -o, --output FILE         write the measures to FILE (default stdout)\n"
           "      --metrics-stream FILE also write the measures as an lr.metrics msgpack stream\n"
           "  -t, --threads N           threads (default: all cores)\n"
           "      --quiet               no progress on stderr\n"
           "  -h, --help                show this help and exit\n"
           "  -V, --version             show the version and exit\n"
           "\n"
           "Ties are ranked as trec_eval ranks them: score descending, then docno\n"
           "descending.  See lr-eval(1) and lr-formats(5).\n");
    exit(0);
}

enum { FMT_TABLE, FMT_TSV, FMT_JSON, FMT_TREC };

enum {
    OPT_QUERIES = 256, OPT_DOCS, OPT_BLOCK, OPT_WRITE_RUN, OPT_TAG, OPT_IGNORE_IDS,
    OPT_METRICS_STREAM, OPT_QUIET, OPT_TEST, OPT_TRIALS, OPT_SEED, OPT_CORRECTION, OPT_ALPHA,
    OPT_CI, OPT_MERGE
};

typedef struct {
    const char *qrels, *queries, *docs, *write_run, *tag, *output, *metrics_stream;
    const char **runs;
    int nruns;
    int k, block, format, threads;
    bool complete, ignore_ids, per_query, quiet;
    lr_measure *ms;
    int nm;
    /* comparison */
    const char *cmp_opt;     /* first comparison option given, for messages */
    lr_test test;
    lr_correction correction;
    long trials;
    uint64_t seed;
    double alpha;
    bool ci;
    const char **merge;      /* --merge: the shards' runs */
    int n_merge;
} options;

static FILE *open_input(const char *path)
{
    if (!strcmp(path, "-")) return stdin;
    FILE *f = fopen(path, "rb");
    if (!f) lr_die("%s: %s", path, strerror(errno));
    return f;
}

/* The query embeddings, all in memory. */
typedef struct {
    int n, dim;
    float *vec;
    char **ids;
    lr_emb_header h;
} queries;

static void read_queries(const char *path, queries *q)
{
    FILE *f = open_input(path);
    lr_error err;
    lr_emb_reader *r = lr_emb_reader_open(f, strcmp(path, "-") ? path : "stdin", &err);
    if (!r) lr_die("%s", err.msg);
    q->h = *lr_emb_reader_header(r);
    q->dim = q->h.dim;
    size_t n;
    if (lr_emb_read_all(r, &q->vec, &q->ids, &n, &err) < 0) lr_die("%s", err.msg);
    if (n == 0) lr_die("%s: no queries (the stream has a header only)", path);
    if (n > INT_MAX) lr_die("%s: more than %d queries", path, INT_MAX);
    q->n = (int)n;
    lr_emb_reader_close(r);
    if (f != stdin) fclose(f);
}

static void check_headers(const char *qp, const lr_emb_header *q, const char *dp,
                          const lr_emb_header *d)
{
    if (q->dim != d->dim)
        lr_die("%s has dimension %d but %s has %d", qp, q->dim, dp, d->dim);
    if (q->model[0] && d->model[0] && strcmp(q->model, d->model))
        lr_die("%s was encoded by model %s but %s by model %s", qp, q->model, dp, d->model);
    if (strcmp(q->pooling, d->pooling))
        lr_die("%s uses %s pooling but %s uses %s pooling", qp, q->pooling, dp, d->pooling);
    if (q->normalized != d->normalized)
        lr_die("%s is %snormalized but %s is %snormalized", qp, q->normalized ? "" : "not ",
               dp, d->normalized ? "" : "not ");
    if (!strcmp(q->kind, "passage") && !strcmp(d->kind, "query"))
        lr_die("%s holds passages and %s holds queries: are --queries and --docs swapped?",
               qp, dp);
    if (!strcmp(d->kind, "query"))
        lr_die("%s: header: kind \"query\": --docs needs passage embeddings (lr-encode --corpus)", dp);
}

/* One block of documents read from the stream. */
typedef struct {
    lr_emb_reader *r;
    int block, dim;
    float *docs;
    char **ids;
    int n;
    int rc;          /* 1 = more may follow, 0 = end of stream, -1 = error */
    lr_error err;
} reader_job;

static void read_block(reader_job *j)
{
    const char *id;
    j->n = 0;
    j->rc = 1;
    while (j->n < j->block &&
           (j->rc = lr_emb_read(j->r, &id, j->docs + (size_t)j->n * j->dim, &j->err)) == 1) {
        free(j->ids[j->n]);
        j->ids[j->n++] = strdup(id);
    }
    if (j->rc == 1 && j->n < j->block) j->rc = 0;
}

static void *read_block_thread(void *arg)
{
    read_block(arg);
    return NULL;
}

/* Search the documents for every query; returns the run. */
static lr_trec *dense_search(const options *o)
{
    queries q = {0};
    read_queries(o->queries, &q);
    FILE *f = open_input(o->docs);
    const char *dname = strcmp(o->docs, "-") ? o->docs : "stdin";
    lr_error err;
    lr_emb_reader *r = lr_emb_reader_open(f, dname, &err);
    if (!r) lr_die("%s", err.msg);
    check_headers(o->queries, &q.h, dname, lr_emb_reader_header(r));

    int dim = q.dim;
    /* bound the block's score matrix (queries x block) to about 256 MB */
    long block = o->block;
    long cap_scores = (256L << 20) / (4L * q.n);
    if (block > cap_scores) block = cap_scores < 64 ? 64 : cap_scores;
    /* two buffers: a thread reads the next block while this one is searched */
    reader_job job[2];
    for (int b = 0; b < 2; b++) {
        job[b] = (reader_job){.r = r, .block = (int)block, .dim = dim};
        job[b].docs = malloc((size_t)block * dim * sizeof *job[b].docs);
        job[b].ids = calloc(block, sizeof *job[b].ids);
        if (!job[b].docs || !job[b].ids) lr_die("out of memory");
    }
    lr_search *s = lr_search_new(q.vec, q.n, dim, o->k, (const char *const *)q.ids,
                                 o->ignore_ids);
    lr_progress *p = lr_progress_new("documents", 0, o->quiet);
    read_block(&job[0]);
    for (int cur = 0;; cur ^= 1) {
        reader_job *j = &job[cur];
        if (j->rc < 0) lr_die("%s", j->err.msg);
        pthread_t th;
        bool more = j->rc == 1, threaded = false;
        if (more) threaded = pthread_create(&th, NULL, read_block_thread, &job[cur ^ 1]) == 0;
        lr_search_add(s, j->docs, j->n, (const char *const *)j->ids);
        lr_progress_add(p, j->n, 0);
        if (!more) break;
        if (threaded) pthread_join(th, NULL);
        else read_block(&job[cur ^ 1]);
    }
    lr_progress_done(p);
    lr_emb_reader_close(r);
    if (f != stdin) fclose(f);
    if (lr_search_ndocs(s) == 0) lr_warn("%s: no documents", dname);

    /* the run, as if read from a file */
    lr_trec *run = lr_search_run(s, o->queries, dname, o->tag, &err);
    if (!run) lr_die("%s", err.msg);
    lr_search_free(s);
    for (int b = 0; b < 2; b++) {
        for (long i = 0; i < block; i++) free(job[b].ids[i]);
        free(job[b].ids);
        free(job[b].docs);
    }
    free(q.vec);
    for (int i = 0; i < q.n; i++) free(q.ids[i]);
    free(q.ids);
    return run;
}

static void write_run(const options *o, const lr_trec *run)
{
    lr_error err;
    lr_out *out = lr_out_open(o->write_run, &err);
    if (!out) lr_die("%s", err.msg);
    size_t cap = 0;
    lr_hit *h = NULL;
    for (int i = 0; i < run->n; i++) {
        const lr_topic *t = &run->topics[i];
        h = lr_grow(h, &cap, (size_t)t->n, sizeof *h);
        for (int j = 0; j < t->n; j++) h[j] = (lr_hit){t->docno[j], t->value[j]};
        lr_hits_sort(h, t->n);
        lr_run_write_topic(out->fp, t->qid, h, t->n, o->tag);
    }
    free(h);
    if (lr_out_commit(out, &err) < 0) lr_die("%s", err.msg);
}

static void print_table(FILE *f, const options *o, const lr_eval_result *r)
{
    int qw = 5;
    if (o->per_query)
        for (int i = 0; i < r->nq; i++) {
            int l = (int)strlen(r->qids[i]);
            if (l > qw) qw = l;
        }
    fprintf(f, "%-*s", qw, "query");
    for (int m = 0; m < r->nm; m++) {
        int w = (int)strlen(r->measures[m].name);
        fprintf(f, "  %*s", w < 6 ? 6 : w, r->measures[m].name);
    }
    fputc('\n', f);
    for (int i = -1; i < (o->per_query ? r->nq : 0); i++) {
        if (i < 0) continue;
        fprintf(f, "%-*s", qw, r->qids[i]);
        for (int m = 0; m < r->nm; m++) {
            int w = (int)strlen(r->measures[m].name);
            fprintf(f, "  %*.4f", w < 6 ? 6 : w, r->values[(size_t)i * r->nm + m]);
        }
        fputc('\n', f);
    }
    fprintf(f, "%-*s", qw, "all");
    for (int m = 0; m < r->nm; m++) {
        int w = (int)strlen(r->measures[m].name);
        fprintf(f, "  %*.4f", w < 6 ? 6 : w, r->mean[m]);
    }
    fprintf(f, "\n(%d queries averaged%s)\n", r->n_avg,
            o->complete ? ", every judged query" : "");
}

static void print_lines(FILE *f, const options *o, const lr_eval_result *r)
{
    const char *fmt = o->format == FMT_TREC ? "%-22s\t%s\t%.4f\n" : "%s\t%s\t%.4f\n";
    if (o->per_query)
        for (int i = 0; i < r->nq; i++)
            for (int m = 0; m < r->nm; m++)
                fprintf(f, fmt, r->measures[m].name, r->qids[i], r->values[(size_t)i * r->nm + m]);
    for (int m = 0; m < r->nm; m++) fprintf(f, fmt, r->measures[m].name, "all", r->mean[m]);
}

static void print_json(FILE *f, const options *o, const lr_eval_result *r, const char *runname)
{
    json_t *root = json_object(), *all = json_object();
    json_object_set_new(root, "qrels", json_string(o->qrels));
    json_object_set_new(root, "run", json_string(runname));
    json_object_set_new(root, "queries", json_integer(r->n_avg));
    json_object_set_new(root, "complete", json_boolean(o->complete));
    for (int m = 0; m < r->nm; m++)
        json_object_set_new(all, r->measures[m].name, json_real(r->mean[m]));
    json_object_set_new(root, "all", all);
    if (o->per_query) {
        json_t *pq = json_object();
        for (int i = 0; i < r->nq; i++) {
            json_t *q = json_object();
            for (int m = 0; m < r->nm; m++)
                json_object_set_new(q, r->measures[m].name,
                                    json_real(r->values[(size_t)i * r->nm + m]));
            json_object_set_new(pq, r->qids[i], q);
        }
        json_object_set_new(root, "per_query", pq);
    }
    json_dumpf(root, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    fputc('\n', f);
    json_decref(root);
}

static void write_metrics_stream(const options *o, const lr_eval_result *r, const char *runname)
{
    lr_error err;
    lr_out *out = lr_out_open(o->metrics_stream, &err);
    if (!out) lr_die("%s", err.msg);
    lr_stream_writer *w = lr_metrics_writer_new(out->fp, o->qrels, runname, r->n_avg,
                                                o->complete, &err);
    if (!w) lr_die("%s: %s", o->metrics_stream, err.msg);
    int rc = 0;
    if (o->per_query)
        for (int i = 0; i < r->nq && rc == 0; i++)
            for (int m = 0; m < r->nm && rc == 0; m++)
                rc = lr_metrics_write(w, r->measures[m].name, r->qids[i],
                                      r->values[(size_t)i * r->nm + m], &err);
    for (int m = 0; m < r->nm && rc == 0; m++)
        rc = lr_metrics_write(w, r->measures[m].name, "all", r->mean[m], &err);
    if (lr_stream_writer_close(w, rc ? NULL : &err) < 0 || rc < 0)
        lr_die("%s: %s", o->metrics_stream, err.msg);
    if (lr_out_commit(out, &err) < 0) lr_die("%s", err.msg);
}

/* ---- comparing runs: one row per run and measure ---- */
typedef struct {
    const char *run;
    int measure;
    int queries;
    double mean, delta, p, p_adj, lo, hi;
    bool baseline;
} cmp_row;

/* Evaluate every run, pair each with the first per query, test, adjust. */
static cmp_row *compare(const options *o, const lr_trec *qrels, lr_eval_result **r,
                        const char **names, int nr, int *nrows)
{
    int nm = o->nm, rows = nr * nm, ncmp = (nr - 1) * nm;
    cmp_row *row = calloc(rows, sizeof *row);
    double *x = malloc((qrels->n + 1) * sizeof *x), *y = malloc((qrels->n + 1) * sizeof *y);
    double *p = malloc((ncmp + 1) * sizeof *p);
    if (!row || !x || !y || !p) lr_die("out of memory");
    for (int m = 0; m < nm; m++)
        row[m] = (cmp_row){.run = names[0], .measure = m, .queries = r[0]->n_avg,
                           .mean = r[0]->mean[m], .baseline = true};
    for (int k = 1; k < nr; k++) {
        for (int m = 0; m < nm; m++) {
            int common, n = lr_eval_pair(qrels, r[0], r[k], m, o->complete, x, y, &common);
            if (common == 0 || n < 2) {
                free(x);
                free(y);
                free(p);
                free(row);
                if (common == 0)
                    lr_die("%s and %s have no judged query in common", names[k], names[0]);
                lr_die("%s and %s have only one judged query in common: a paired test needs two",
                       names[k], names[0]);
            }
            cmp_row *c = &row[k * nm + m];
            *c = (cmp_row){.run = names[k], .measure = m, .queries = n};
            double sx = 0, sy = 0;
            for (int i = 0; i < n; i++) {
                sx += x[i];
                sy += y[i];
            }
            c->mean = sy / n;
            c->delta = (sy - sx) / n;
            switch (o->test) {
            case LR_TEST_T: c->p = lr_ttest_paired(x, y, n); break;
            case LR_TEST_WILCOXON: c->p = lr_wilcoxon(x, y, n, NULL); break;
            case LR_TEST_RANDOMIZATION:
                c->p = lr_randomization(x, y, n, o->trials, o->seed);
                break;
            }
            if (o->ci) lr_bootstrap_ci(x, y, n, o->trials, 0.95, o->seed, &c->lo, &c->hi);
            p[(k - 1) * nm + m] = c->p;
        }
    }
    lr_p_adjust(p, p, ncmp, o->correction);
    for (int i = 0; i < ncmp; i++) row[nm + i].p_adj = p[i];
    free(p);
    free(x);
    free(y);
    *nrows = rows;
    return row;
}

/* A compared system: one run file, or FILE,FILE... (its runs for several
 * seeds or draws, averaged per query).  A name that is an existing file
 * is that file, commas and all. */
static lr_eval_result *evaluate_system(const options *o, const lr_trec *qrels, const char *spec)
{
    lr_error err = {{0}};
    char *list = strdup(spec);
    if (!list) lr_die("out of memory");
    int n = 1;
    if (access(spec, F_OK) != 0)
        for (char *c = list; *c; c++)
            if (*c == ',') n++;
    lr_eval_result **rs = calloc(n, sizeof *rs);
    if (!rs) lr_die("out of memory");
    char *file = list;
    for (int i = 0; i < n; i++) {
        char *next = n > 1 ? strchr(file, ',') : NULL;
        if (next) *next = 0;
        if (!*file) lr_usage_error("--run %s: an empty file name in the list", spec);
        lr_trec *run = lr_run_load(file, &err);
        if (!run) lr_die("%s", err.msg);
        rs[i] = lr_evaluate(qrels, run, o->ms, o->nm, o->complete, o->ignore_ids, &err);
        if (!rs[i]) lr_die("%s", err.msg);
        lr_trec_free(run);
        if (next) file = next + 1;
    }
    lr_eval_result *r = rs[0];
    if (n > 1) {
        r = lr_eval_mean(qrels, rs, n, o->complete, &err);
        if (!r) lr_die("--run %s: %s", spec, err.msg);
        if (r->nq == 0) lr_die("--run %s: no judged query is in every run of the list", spec);
        for (int i = 0; i < n; i++) lr_eval_result_free(rs[i]);
    }
    free(rs);
    free(list);
    return r;
}

static const char *test_title(lr_test t)
{
    return t == LR_TEST_T ? "paired t test"
         : t == LR_TEST_WILCOXON ? "Wilcoxon signed-rank test"
                                 : "paired randomization test";
}

static void print_cmp_table(FILE *f, const options *o, const cmp_row *row, int nrows)
{
    int rw = 3, mw = 7;
    for (int i = 0; i < nrows; i++) {
        int l = (int)strlen(row[i].run), lm = (int)strlen(o->ms[row[i].measure].name);
        if (l > rw) rw = l;
        if (lm > mw) mw = lm;
    }
    fprintf(f, "%-*s  %-*s  %7s  %8s  %8s  %9s  %10s", rw, "run", mw, "measure", "queries",
            "mean", "delta", "p", "p_adjusted");
    if (o->ci) fputs("  95% CI of delta", f);
    fputc('\n', f);
    for (int i = 0; i < nrows; i++) {
        const cmp_row *c = &row[i];
        fprintf(f, "%-*s  %-*s  %7d  %8.4f", rw, c->run, mw, o->ms[c->measure].name, c->queries,
                c->mean);
        if (c->baseline) {
            fprintf(f, "  %8s  %9s  %10s", "-", "-", "-");
            if (o->ci) fputs("  -", f);
        } else {
            fprintf(f, "  %+8.4f  %9.3g  %10.3g", c->delta, c->p, c->p_adj);
            if (o->ci) {
                char buf[64];
                snprintf(buf, sizeof buf, "[%+.4f, %+.4f]", c->lo, c->hi);
                fprintf(f, "  %s", buf);
            }
            if (c->p_adj < o->alpha) fputs("  *", f);
        }
        fputc('\n', f);
    }
    int ncmp = nrows - o->nm;
    fprintf(f, "(%s", test_title(o->test));
    if (o->test == LR_TEST_RANDOMIZATION) fprintf(f, ", %ld trials", o->trials);
    if (o->correction != LR_CORRECT_NONE)
        fprintf(f, ", %s correction over %d comparison%s",
                o->correction == LR_CORRECT_HOLM ? "Holm" : "Bonferroni", ncmp, ncmp == 1 ? "" : "s");
    fprintf(f, "; * p_adjusted < %g%s)\n", o->alpha, o->complete ? "; every judged query" : "");
}

static void print_cmp_tsv(FILE *f, const options *o, const cmp_row *row, int nrows)
{
    fputs("run\tmeasure\tqueries\tmean\tdelta\tp\tp_adjusted", f);
    if (o->ci) fputs("\tci_low\tci_high", f);
    fputc('\n', f);
    for (int i = 0; i < nrows; i++) {
        const cmp_row *c = &row[i];
        fprintf(f, "%s\t%s\t%d\t%.6f", c->run, o->ms[c->measure].name, c->queries, c->mean);
        if (c->baseline) fputs(o->ci ? "\t-\t-\t-\t-\t-" : "\t-\t-\t-", f);
        else {
            fprintf(f, "\t%.6f\t%.6g\t%.6g", c->delta, c->p, c->p_adj);
            if (o->ci) fprintf(f, "\t%.6f\t%.6f", c->lo, c->hi);
        }
        fputc('\n', f);
    }
}

static void print_cmp_json(FILE *f, const options *o, const cmp_row *row, int nrows)
{
    json_t *root = json_object(), *rows = json_array();
    json_object_set_new(root, "qrels", json_string(o->qrels));
    json_object_set_new(root, "complete", json_boolean(o->complete));
    json_object_set_new(root, "test", json_string(lr_test_name(o->test)));
    if (o->test == LR_TEST_RANDOMIZATION || o->ci) {
        json_object_set_new(root, "trials", json_integer(o->trials));
        json_object_set_new(root, "seed", json_integer((json_int_t)o->seed));
    }
    json_object_set_new(root, "correction", json_string(lr_correction_name(o->correction)));
    json_object_set_new(root, "comparisons", json_integer(nrows - o->nm));
    json_object_set_new(root, "alpha", json_real(o->alpha));
    for (int i = 0; i < nrows; i++) {
        const cmp_row *c = &row[i];
        json_t *j = json_object();
        json_object_set_new(j, "run", json_string(c->run));
        json_object_set_new(j, "measure", json_string(o->ms[c->measure].name));
        json_object_set_new(j, "queries", json_integer(c->queries));
        json_object_set_new(j, "mean", json_real(c->mean));
        json_object_set_new(j, "baseline", json_boolean(c->baseline));
        if (!c->baseline) {
            json_object_set_new(j, "delta", json_real(c->delta));
            json_object_set_new(j, "p", json_real(c->p));
            json_object_set_new(j, "p_adjusted", json_real(c->p_adj));
            json_object_set_new(j, "significant", json_boolean(c->p_adj < o->alpha));
            if (o->ci) {
                json_t *ci = json_array();
                json_array_append_new(ci, json_real(c->lo));
                json_array_append_new(ci, json_real(c->hi));
                json_object_set_new(j, "ci95", ci);
            }
        }
        json_array_append_new(rows, j);
    }
    json_object_set_new(root, "rows", rows);
    json_dumpf(root, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    fputc('\n', f);
    json_decref(root);
}

int main(int argc, char **argv)
{
    lr_cli_init(argv[0]);
    options o = {.k = 1000, .block = 8192, .tag = "lr", .format = FMT_TABLE,
                 .test = LR_TEST_RANDOMIZATION, .correction = LR_CORRECT_HOLM, .trials = 10000,
                 .seed = 1, .alpha = 0.05};
    o.runs = calloc(argc + 1, sizeof *o.runs);
    o.merge = calloc(argc + 1, sizeof *o.merge);
    if (!o.runs || !o.merge) lr_die("out of memory");
    static const struct option longopts[] = {
        {"qrels", required_argument, 0, 'Q'},
        {"run", required_argument, 0, 'r'},
        {"queries", required_argument, 0, OPT_QUERIES},
        {"docs", required_argument, 0, OPT_DOCS},
        {"top", required_argument, 0, 'k'},
        {"block", required_argument, 0, OPT_BLOCK},
        {"write-run", required_argument, 0, OPT_WRITE_RUN},
        {"tag", required_argument, 0, OPT_TAG},
        {"measure", required_argument, 0, 'm'},
        {"complete", no_argument, 0, 'c'},
        {"ignore-identical-ids", no_argument, 0, OPT_IGNORE_IDS},
        {"per-query", no_argument, 0, 'q'},
        {"format", required_argument, 0, 'f'},
        {"output", required_argument, 0, 'o'},
        {"metrics-stream", required_argument, 0, OPT_METRICS_STREAM},
        {"threads", required_argument, 0, 't'},
        {"quiet", no_argument, 0, OPT_QUIET},
        {"test", required_argument, 0, OPT_TEST},
        {"trials", required_argument, 0, OPT_TRIALS},
        {"seed", required_argument, 0, OPT_SEED},
        {"correction", required_argument, 0, OPT_CORRECTION},
        {"alpha", required_argument, 0, OPT_ALPHA},
        {"ci", no_argument, 0, OPT_CI},
        {"merge", required_argument, 0, OPT_MERGE},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    int c;
    lr_error err;
    while ((c = lr_getopt(argc, argv, "Q:r:k:m:cqf:o:t:hV", longopts)) != -1) {
        switch (c) {
        case 'Q': o.qrels = optarg; break;
        case 'r': o.runs[o.nruns++] = optarg; break;
        case OPT_QUERIES: o.queries = optarg; break;
        case OPT_DOCS: o.docs = optarg; break;
        case 'k': o.k = (int)lr_parse_long("--top", optarg, 1, 100000000); break;
        case OPT_BLOCK: o.block = (int)lr_parse_long("--block", optarg, 1, 1 << 24); break;
        case OPT_WRITE_RUN: o.write_run = optarg; break;
        case OPT_TAG:
            if (!*optarg || strpbrk(optarg, " \t\n")) lr_usage_error("--tag: '%s' must be one word", optarg);
            o.tag = optarg;
            break;
        case 'm':
            if (lr_measures_add(&o.ms, &o.nm, optarg, &err) < 0) lr_usage_error("-m: %s", err.msg);
            break;
        case 'c': o.complete = true; break;
        case OPT_IGNORE_IDS: o.ignore_ids = true; break;
        case 'q': o.per_query = true; break;
        case 'f':
            if (!strcmp(optarg, "table")) o.format = FMT_TABLE;
            else if (!strcmp(optarg, "tsv")) o.format = FMT_TSV;
            else if (!strcmp(optarg, "json")) o.format = FMT_JSON;
            else if (!strcmp(optarg, "trec_eval")) o.format = FMT_TREC;
            else lr_usage_error("--format: '%s' is not table, tsv, json or trec_eval", optarg);
            break;
        case 'o': o.output = optarg; break;
        case OPT_METRICS_STREAM: o.metrics_stream = optarg; break;
        case 't': o.threads = (int)lr_parse_long("--threads", optarg, 0, 4096); break;
        case OPT_QUIET: o.quiet = true; break;
        case OPT_TEST:
            if (lr_test_parse(optarg, &o.test) < 0)
                lr_usage_error("--test: '%s' is not t, randomization or wilcoxon", optarg);
            if (!o.cmp_opt) o.cmp_opt = "--test";
            break;
        case OPT_TRIALS:
            o.trials = lr_parse_long("--trials", optarg, 1, 1000000000);
            if (!o.cmp_opt) o.cmp_opt = "--trials";
            break;
        case OPT_SEED:
            o.seed = (uint64_t)lr_parse_long("--seed", optarg, 0, LONG_MAX);
            if (!o.cmp_opt) o.cmp_opt = "--seed";
            break;
        case OPT_CORRECTION:
            if (lr_correction_parse(optarg, &o.correction) < 0)
                lr_usage_error("--correction: '%s' is not holm, bonferroni or none", optarg);
            if (!o.cmp_opt) o.cmp_opt = "--correction";
            break;
        case OPT_ALPHA:
            o.alpha = lr_parse_double("--alpha", optarg);
            if (!(o.alpha > 0 && o.alpha < 1))
                lr_usage_error("--alpha: '%s' is not between 0 and 1", optarg);
            if (!o.cmp_opt) o.cmp_opt = "--alpha";
            break;
        case OPT_CI:
            o.ci = true;
            if (!o.cmp_opt) o.cmp_opt = "--ci";
            break;
        case OPT_MERGE: o.merge[o.n_merge++] = optarg; break;
        case 'h': usage(); break;
        case 'V': lr_print_version(); break;
        default: lr_usage_error("unknown option");
        }
    }
    if (optind < argc) lr_usage_error("unexpected argument '%s'", argv[optind]);
    if (!o.qrels && !o.write_run)
        lr_usage_error("--qrels is required (or --write-run to only search or merge)");
    bool dense = o.queries || o.docs;
    if (dense && (!o.queries || !o.docs))
        lr_usage_error("a dense search needs both --queries and --docs");
    if (!dense && !o.nruns && !o.n_merge) lr_usage_error("give --run, --queries and --docs, or --merge");
    if (o.n_merge && (dense || o.nruns))
        lr_usage_error("--merge makes the run: give no --run, --queries or --docs with it");
    int merge_stdin = 0;
    for (int i = 0; i < o.n_merge; i++) merge_stdin += !strcmp(o.merge[i], "-");
    if (merge_stdin > 1) lr_usage_error("--merge: standard input can be read once");
    int nr = o.nruns + dense;
    bool comparing = nr > 1;
    if (comparing && !o.qrels) lr_usage_error("--qrels is required to compare runs");
    if (!comparing && o.cmp_opt)
        lr_usage_error("%s compares runs: give two or more (--run BASELINE --run OTHER)", o.cmp_opt);
    if (comparing && o.per_query)
        lr_usage_error("-q evaluates one run: give a single --run for per-query values");
    if (comparing && o.format == FMT_TREC)
        lr_usage_error("--format trec_eval evaluates one run: compare with table, tsv or json");
    if (comparing && o.metrics_stream)
        lr_usage_error("--metrics-stream evaluates one run: give a single --run");
    if (o.write_run && !dense && !o.n_merge)
        lr_usage_error("--write-run needs a dense search (--queries, --docs) or --merge");
    if (!strcmp(o.queries ? o.queries : "", "-") && !strcmp(o.docs ? o.docs : "", "-"))
        lr_usage_error("--queries and --docs cannot both read stdin");
    if (!o.nm) lr_measures_default(&o.ms, &o.nm);
    if (o.metrics_stream) lr_refuse_binary_tty(o.metrics_stream, "a metrics stream");

    lr_threads_init(o.threads);
    lr_trec *qrels = o.qrels ? lr_qrels_load(o.qrels, &err) : NULL;
    if (o.qrels && !qrels) lr_die("%s", err.msg);
    if (comparing) {
        /* the run files in the order given, then the dense search's run */
        lr_eval_result **rs = calloc(nr, sizeof *rs);
        const char **names = calloc(nr, sizeof *names);
        if (!rs || !names) lr_die("out of memory");
        for (int k = 0; k < nr; k++) {
            if (k < o.nruns) {
                rs[k] = evaluate_system(&o, qrels, o.runs[k]);
                names[k] = o.runs[k];
            } else {
                lr_trec *run = dense_search(&o);
                names[k] = o.docs;
                if (o.write_run) write_run(&o, run);
                rs[k] = lr_evaluate(qrels, run, o.ms, o.nm, o.complete, o.ignore_ids, &err);
                if (!rs[k]) lr_die("%s", err.msg);
                lr_trec_free(run);
            }
        }
        int nrows;
        cmp_row *rows = compare(&o, qrels, rs, names, nr, &nrows);
        lr_out *out = lr_out_open(o.output, &err);
        if (!out) lr_die("%s", err.msg);
        switch (o.format) {
        case FMT_TABLE: print_cmp_table(out->fp, &o, rows, nrows); break;
        case FMT_JSON: print_cmp_json(out->fp, &o, rows, nrows); break;
        default: print_cmp_tsv(out->fp, &o, rows, nrows); break;
        }
        if (lr_out_commit(out, &err) < 0) lr_die("%s", err.msg);
        for (int k = 0; k < nr; k++) lr_eval_result_free(rs[k]);
        free(rs);
        free(names);
        free(rows);
        lr_trec_free(qrels);
        free(o.ms);
        free(o.runs);
        free(o.merge);
        return 0;
    }

    lr_trec *run;
    const char *runname;
    if (dense) {
        run = dense_search(&o);
        runname = o.docs;
        if (o.write_run) write_run(&o, run);
    } else if (o.n_merge) {
        lr_trec **shards = malloc((size_t)o.n_merge * sizeof *shards);
        if (!shards) lr_die("out of memory");
        for (int i = 0; i < o.n_merge; i++)
            if (!(shards[i] = lr_run_load(o.merge[i], &err))) lr_die("%s", err.msg);
        if (!(run = lr_runs_merge(shards, o.n_merge, o.k, &err))) lr_die("%s", err.msg);
        for (int i = 0; i < o.n_merge; i++) lr_trec_free(shards[i]);
        free(shards);
        runname = o.n_merge == 1 ? o.merge[0] : "merged runs";
        if (o.write_run) write_run(&o, run);
    } else {
        if (strchr(o.runs[0], ',') && access(o.runs[0], F_OK) != 0)
            lr_usage_error("--run %s: runs of one system are compared with a baseline "
                           "(--run BASELINE --run A,B,...)", o.runs[0]);
        run = lr_run_load(o.runs[0], &err);
        if (!run) lr_die("%s", err.msg);
        runname = o.runs[0];
    }
    if (!qrels) {   /* --write-run alone: searched or merged, nothing to evaluate */
        lr_trec_free(run);
        free(o.ms);
        free(o.runs);
        free(o.merge);
        return 0;
    }
    lr_eval_result *r = lr_evaluate(qrels, run, o.ms, o.nm, o.complete, o.ignore_ids, &err);
    if (!r) lr_die("%s", err.msg);

    if (o.metrics_stream) write_metrics_stream(&o, r, runname);
    lr_out *out = lr_out_open(o.output, &err);
    if (!out) lr_die("%s", err.msg);
    switch (o.format) {
    case FMT_TABLE: print_table(out->fp, &o, r); break;
    case FMT_JSON: print_json(out->fp, &o, r, runname); break;
    default: print_lines(out->fp, &o, r); break;
    }
    if (lr_out_commit(out, &err) < 0) lr_die("%s", err.msg);
    lr_eval_result_free(r);
    lr_trec_free(run);
    lr_trec_free(qrels);
    free(o.ms);
    free(o.runs);
    free(o.merge);
    return 0;
}
