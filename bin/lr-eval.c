/*
 * lr-eval - exact dense search and trec_eval-exact retrieval measures.
 *
 *   lr-eval --qrels QRELS --queries Q.mp --docs D.mp [--write-run RUN]
 *   lr-eval --qrels QRELS --run RUN.trec
 */
#include "config.h"
#include "lr.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
    printf("Usage: lr-eval --qrels QRELS (--run RUN | --queries Q.mp --docs D.mp) [OPTION]...\n"
           "Evaluate a TREC run, or search document embeddings exactly for each query\n"
           "embedding, and print retrieval measures as trec_eval 10.0 computes them.\n"
           "\n"
           "Inputs:\n"
           "  -Q, --qrels FILE          judgements, TREC (qid iter docno rel) or BEIR\n"
           "                            (query-id corpus-id score, header line) layout\n"
           "  -r, --run FILE            evaluate this TREC run (qid Q0 docno rank score tag)\n"
           "      --queries FILE        query embeddings stream (lr.embeddings)\n"
           "      --docs FILE           document embeddings stream; read block by block\n"
           "  -k, --top N               documents retrieved per query (default 1000)\n"
           "      --block N             documents per GEMM block (default 8192)\n"
           "      --write-run FILE      write the dense search's run (qid Q0 docno rank score tag)\n"
           "      --tag TAG             run tag written by --write-run (default lr)\n"
           "\n"
           "Measures (trec_eval's names and definitions):\n"
           "  -m, --measure SPEC        map, recip_rank, P.k, recall.k, ndcg_cut.k, MRR@k;\n"
           "                            cutoffs as in trec_eval (ndcg_cut.5,10,100); may repeat;\n"
           "                            default: ndcg_cut.10 recall.100 recip_rank map\n"
           "  -c, --complete            average over every qrels query (missing ones score 0)\n"
           "      --ignore-identical-ids  drop results whose docno equals the query id\n"
           "  -q, --per-query           also print each query's values\n"
           "\n"
           "Output:\n"
           "  -f, --format FMT          table (default), tsv (measure query value), json,\n"
           "                            or trec_eval (byte-compatible with trec_eval's output)\n"
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
    OPT_METRICS_STREAM, OPT_QUIET
};

typedef struct {
    const char *qrels, *run, *queries, *docs, *write_run, *tag, *output, *metrics_stream;
    int k, block, format, threads;
    bool complete, ignore_ids, per_query, quiet;
    lr_measure *ms;
    int nm;
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
    int cap = 0;
    const char *id;
    float *v = malloc((size_t)q->dim * sizeof *v);
    int rc;
    while ((rc = lr_emb_read(r, &id, v, &err)) == 1) {
        if (q->n == cap) {
            cap = cap ? 2 * cap : 256;
            q->vec = realloc(q->vec, (size_t)cap * q->dim * sizeof *q->vec);
            q->ids = realloc(q->ids, cap * sizeof *q->ids);
            if (!q->vec || !q->ids) lr_die("out of memory");
        }
        memcpy(q->vec + (size_t)q->n * q->dim, v, q->dim * sizeof *v);
        q->ids[q->n++] = strdup(id);
    }
    if (rc < 0) lr_die("%s", err.msg);
    if (q->n == 0) lr_die("%s: no queries (the stream has a header only)", path);
    free(v);
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

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_topic(const void *a, const void *b)
{
    return strcmp(((const lr_topic *)a)->qid, ((const lr_topic *)b)->qid);
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
    lr_trec *run = calloc(1, sizeof *run);
    run->path = strdup(o->queries);
    run->tag = strdup(o->tag);
    run->topics = calloc(q.n, sizeof *run->topics);
    for (int i = 0; i < q.n; i++) {
        const lr_hit *h;
        int n = lr_search_hits(s, i, &h);
        lr_topic *t = &run->topics[run->n++];
        t->qid = q.ids[i];
        t->n = n;
        t->docno = malloc((n + 1) * sizeof *t->docno);
        t->value = malloc((n + 1) * sizeof *t->value);
        for (int j = 0; j < n; j++) {
            t->docno[j] = strdup(h[j].docno);
            t->value[j] = h[j].score;
        }
        /* a document listed twice would make an invalid run */
        char **sorted = malloc((n + 1) * sizeof *sorted);
        memcpy(sorted, t->docno, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, cmp_str);
        for (int j = 1; j < n; j++)
            if (!strcmp(sorted[j], sorted[j - 1]))
                lr_die("%s: document id %s appears more than once", dname, sorted[j]);
        free(sorted);
    }
    qsort(run->topics, run->n, sizeof *run->topics, cmp_topic);
    for (int i = 1; i < run->n; i++)
        if (!strcmp(run->topics[i].qid, run->topics[i - 1].qid))
            lr_die("%s: query id %s appears twice", o->queries, run->topics[i].qid);
    lr_search_free(s);
    for (int b = 0; b < 2; b++) {
        for (long i = 0; i < block; i++) free(job[b].ids[i]);
        free(job[b].ids);
        free(job[b].docs);
    }
    free(q.vec);
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
        if ((size_t)t->n > cap) {
            cap = t->n;
            h = realloc(h, cap * sizeof *h);
            if (!h) lr_die("out of memory");
        }
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

int main(int argc, char **argv)
{
    lr_cli_init(argv[0]);
    options o = {.k = 1000, .block = 8192, .tag = "lr", .format = FMT_TABLE};
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
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    int c;
    lr_error err;
    while ((c = lr_getopt(argc, argv, "Q:r:k:m:cqf:o:t:hV", longopts)) != -1) {
        switch (c) {
        case 'Q': o.qrels = optarg; break;
        case 'r': o.run = optarg; break;
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
        case 'h': usage(); break;
        case 'V': lr_print_version(); break;
        default: lr_usage_error("unknown option");
        }
    }
    if (optind < argc) lr_usage_error("unexpected argument '%s'", argv[optind]);
    if (!o.qrels) lr_usage_error("--qrels is required");
    bool dense = o.queries || o.docs;
    if (dense && (!o.queries || !o.docs))
        lr_usage_error("a dense search needs both --queries and --docs");
    if (dense == !!o.run) lr_usage_error("give either --run or --queries and --docs");
    if (o.write_run && !dense) lr_usage_error("--write-run needs a dense search (--queries, --docs)");
    if (!strcmp(o.queries ? o.queries : "", "-") && !strcmp(o.docs ? o.docs : "", "-"))
        lr_usage_error("--queries and --docs cannot both read stdin");
    if (!o.nm) lr_measures_default(&o.ms, &o.nm);

    lr_threads_init(o.threads);
    lr_trec *qrels = lr_qrels_load(o.qrels, &err);
    if (!qrels) lr_die("%s", err.msg);
    lr_trec *run;
    const char *runname;
    if (dense) {
        run = dense_search(&o);
        runname = o.docs;
        if (o.write_run) write_run(&o, run);
    } else {
        run = lr_run_load(o.run, &err);
        if (!run) lr_die("%s", err.msg);
        runname = o.run;
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
    return 0;
}
