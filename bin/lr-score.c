/* lr-score - sublayer importance and MLP channel statistics from
 * calibration text, as a scores stream. */
#include "config.h"
#include "lr.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_MAX_TOKENS 32768
#define DEFAULT_BATCH_TOKENS 4096

static void __attribute__((noreturn)) usage(void)
{
    printf("Usage: %s [-m MODEL] (--calib FILE | --calib-ids FILE)... [OPTION]... > scores.mp\n"
           "  or:  %s --show SCORES\n"
           "Run MODEL over calibration text and write its scores stream: the importance\n"
           "of every attention and MLP sublayer (1 - mean cos(x, x + F(norm(x)))) and the\n"
           "per-channel statistics and importance of every MLP.\n"
           "\n"
           "  -m, --model PATH         model: tar file or HF directory (default: tar on stdin)\n"
           "  -o, --output FILE        write the stream to FILE (default: standard output)\n"
           "  -c, --calib FILE         calibration texts: BEIR corpus or queries JSONL,\n"
           "                           training pairs JSONL ({\"query\": ..., \"pos\": [...]}),\n"
           "                           or id<TAB>text lines; may be repeated\n"
           "      --corpus FILE        corpus.jsonl: strings in the pos/neg of training\n"
           "                           pairs are its ids (as in lr-train)\n"
           "      --calib-ids FILE     calibration token ids: a JSON array of id arrays\n"
           "      --as-queries         encode every --calib text as a query (BEIR queries\n"
           "                           files and the queries of pairs always are)\n"
           "      --calib-tokens N     calibration budget: tokens in all (default %d)\n"
           "      --max-tokens N       truncate every text to N tokens (default: the\n"
           "                           model's max_tokens); --max-length N is the same\n"
           "      --batch-tokens N     tokens per forward pass (default %d)\n"
           "      --channel-metric M   wanda (default), absmean or weight (weight needs no\n"
           "                           calibration)\n"
           "      --summary            print the per-layer importance table on stderr\n"
           "                           (the default when stderr is a terminal)\n"
           "      --show SCORES        print the table of a scores stream on stdout and exit\n"
           "      --dtype TYPE         arithmetic of the projections: f32 (exact, the\n"
           "                           default), bf16, int8 or fast (see lr-encode(1))\n"
           "  -t, --threads N          threads (default 0: all cores)\n"
           "  -q, --quiet              no progress and no table\n"
           "  -h, --help               show this help and exit\n"
           "  -V, --version            show the version and exit\n"
           "Under `mpirun -np N` the batches are dealt to N ranks and the sums added;\n"
           "rank 0 writes.  See lr-score(1).\n",
           lr_progname(), lr_progname(), DEFAULT_MAX_TOKENS, DEFAULT_BATCH_TOKENS);
    exit(0);
}

/* The calibration run: batches of packed sequences through the model. */
typedef struct {
    lr_model *m;
    lr_stats *stats;
    lr_progress *prog;
    int64_t budget, used, seqs;
    int max_length, batch_tokens, vocab;
    bool full;                /* the budget is spent */
    lr_batch batch;           /* the batch being filled */
    int64_t batches;          /* batches formed so far */
} calib;

/* Under MPI every rank reads the whole calibration input and forms the
 * same batches; rank r runs batches r, r + n, r + 2n, ... and the sums
 * are added over the ranks at the end. */
static void flush_batch(calib *c)
{
    lr_batch *b = &c->batch;
    if (b->n_seq == 0) return;
    if (c->batches++ % lr_dist_size() == lr_dist_rank()) {
        lr_error err = {{0}};
        if (lr_model_forward(c->m, b->ids, b->lens, b->n_seq, NULL, c->stats, &err) < 0)
            lr_die("%s", err.msg);
        lr_progress_add(c->prog, b->n_seq, (int64_t)b->n_tokens);
    }
    lr_batch_clear(b);
}

/* The statistics are sums over tokens: add them over the ranks. */
static void sum_over_ranks(lr_stats *s)
{
    lr_dist_sum_int64(&s->tokens, 1);
    lr_dist_sum_double(s->attn_cos, (size_t)s->n_layers);
    lr_dist_sum_double(s->mlp_cos, (size_t)s->n_layers);
    for (int l = 0; l < s->n_layers; l++)
        if (s->mlp_width[l] > 0) {
            lr_dist_sum_double(s->act_abs[l], (size_t)s->mlp_width[l]);
            lr_dist_sum_double(s->act_sq[l], (size_t)s->mlp_width[l]);
        }
}

/* Add one sequence (cut to --max-length); false once the budget is spent. */
static bool add_seq(calib *c, const int32_t *ids, int n)
{
    if (c->full) return false;
    if (n > c->max_length) n = c->max_length;
    if (n <= 0) return true;
    if (c->used + n > c->budget) {
        c->full = true;
        return false;
    }
    lr_batch_add(&c->batch, ids, n);
    c->used += n;
    c->seqs++;
    if (c->batch.n_tokens >= (size_t)c->batch_tokens) flush_batch(c);
    return true;
}

static void calib_ids_file(calib *c, const char *path)
{
    lr_error err = {{0}};
    json_t *j = lr_json_load_file(path, &err);
    if (!j) lr_die("%s", err.msg);
    char why[256] = "";
    size_t i;
    json_t *seq;
    int32_t *buf = NULL;
    size_t cap = 0;
    if (!json_is_array(j)) snprintf(why, sizeof why, "expected a JSON array of token-id arrays");
    else json_array_foreach(j, i, seq) {
        size_t n = json_is_array(seq) ? json_array_size(seq) : 0;
        if (n == 0 || n > (1u << 30)) {
            snprintf(why, sizeof why, "sequence %zu: expected a non-empty array of token ids", i);
            break;
        }
        buf = lr_grow(buf, &cap, n, sizeof *buf);
        for (size_t k = 0; k < n && !why[0]; k++) {
            json_t *x = json_array_get(seq, k);
            if (!json_is_integer(x) || json_integer_value(x) < 0 ||
                json_integer_value(x) > INT32_MAX)
                snprintf(why, sizeof why, "sequence %zu, position %zu: expected a token id", i, k);
            else if (json_integer_value(x) >= c->vocab)
                snprintf(why, sizeof why, "sequence %zu, position %zu: token id %lld is outside "
                         "the vocabulary (size %d)", i, k, (long long)json_integer_value(x),
                         c->vocab);
            else
                buf[k] = (int32_t)json_integer_value(x);
        }
        if (why[0] || !add_seq(c, buf, (int)n)) break;
    }
    free(buf);
    json_decref(j);   /* before dying too: nothing left to a leak checker */
    if (why[0]) {
        lr_batch_free(&c->batch);
        lr_die("%s: %s", path, why);
    }
}

typedef struct {
    const lr_tokenizer *tok;
    const lr_retrieval *r;
    lr_ids ids;
} encoder;

static bool add_text(calib *c, encoder *e, bool is_query, const char *text, size_t len,
                     const char *path, int64_t line)
{
    lr_error err = {{0}};
    if (lr_encode_text(e->tok, e->r, is_query, text, len, &e->ids, &err) < 0)
        lr_die("%s: line %lld: %s", path, (long long)line, err.msg);
    return add_seq(c, e->ids.ids, (int)e->ids.n);
}

/* What a --calib file holds, from its first non-blank line: training
 * pairs (a "query" and no "_id"), BEIR queries (an "_id" and no
 * "title"), or passages (a BEIR corpus, id<TAB>text lines, stdin). */
enum { CALIB_PASSAGES, CALIB_QUERIES, CALIB_PAIRS };

static int calib_kind(const char *path)
{
    if (strcmp(path, "-") == 0) return CALIB_PASSAGES;
    FILE *f = fopen(path, "r");
    if (!f) return CALIB_PASSAGES;   /* the reader names the error */
    char *line = NULL;
    size_t cap = 0;
    int kind = CALIB_PASSAGES;
    while (getline(&line, &cap, f) > 0) {
        char *p = line;
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
        if (!*p) continue;
        json_t *j = *p == '{' ? json_loads(p, 0, NULL) : NULL;
        if (json_is_object(j)) {
            bool id = json_object_get(j, "_id"), q = json_is_string(json_object_get(j, "query"));
            if (q && !id) kind = CALIB_PAIRS;
            else if (id && !json_object_get(j, "title")) kind = CALIB_QUERIES;
        }
        json_decref(j);
        break;
    }
    free(line);
    fclose(f);
    return kind;
}

/* Training pairs, read as lr-train reads them (strings in pos/neg are
 * texts, or ids of --corpus): each query, then its positives and
 * negatives. */
static void calib_pairs_file(calib *c, encoder *e, const char *path, const char *corpus)
{
    lr_error err = {{0}};
    lr_train_data *d = lr_train_data_load(path, corpus, NULL, &err);
    if (!d) lr_die("%s", err.msg);
    for (size_t i = 0; i < d->n && !c->full; i++) {
        const lr_train_example *ex = &d->ex[i];
        int line = ex->line;
        if (!add_text(c, e, true, ex->query, strlen(ex->query), path, line)) break;
        for (int k = 0; k < ex->n_pos + ex->n_neg; k++) {
            const char *t = d->passages[k < ex->n_pos ? ex->pos[k] : ex->neg[k - ex->n_pos]];
            if (!add_text(c, e, false, t, strlen(t), path, line)) break;
        }
    }
    lr_train_data_free(d);
}

static void calib_text_file(calib *c, encoder *e, const char *path, bool is_query)
{
    lr_error err = {{0}};
    lr_text_reader *tr = lr_text_open(path, &err);
    if (!tr) lr_die("%s", err.msg);
    lr_text t;
    int rc;
    while (!c->full && (rc = lr_text_next(tr, &t, &err)) == 1)
        add_text(c, e, is_query, t.text, t.len, path, lr_text_line(tr));
    if (!c->full && rc < 0) lr_die("%s", err.msg);
    lr_text_close(tr);
}

int main(int argc, char **argv)
{
    lr_cli_init(argv[0]);
    lr_dist_init(&argc, &argv);
    enum { OPT_IDS = 256, OPT_QUERIES, OPT_AS_QUERIES, OPT_CALIBTOK, OPT_MAXTOK, OPT_BATCH,
           OPT_METRIC, OPT_SUMMARY, OPT_SHOW, OPT_CORPUS, OPT_DTYPE };
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},
        {"output", required_argument, 0, 'o'},
        {"calib", required_argument, 0, 'c'},
        {"calib-ids", required_argument, 0, OPT_IDS},
        {"corpus", required_argument, 0, OPT_CORPUS},
        {"as-queries", no_argument, 0, OPT_AS_QUERIES},
        {"queries", no_argument, 0, OPT_QUERIES},   /* renamed: a pointer to the new name */
        {"calib-tokens", required_argument, 0, OPT_CALIBTOK},
        {"max-tokens", required_argument, 0, OPT_MAXTOK},
        {"max-length", required_argument, 0, OPT_MAXTOK},
        {"batch-tokens", required_argument, 0, OPT_BATCH},
        {"channel-metric", required_argument, 0, OPT_METRIC},
        {"summary", no_argument, 0, OPT_SUMMARY},
        {"show", required_argument, 0, OPT_SHOW},
        {"dtype", required_argument, 0, OPT_DTYPE},
        {"threads", required_argument, 0, 't'},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0}};
    const char *model = NULL, *output = NULL, *show = NULL, *corpus = NULL;
    const char **calibs = calloc(argc, sizeof *calibs);
    bool *calib_is_ids = calloc(argc, sizeof *calib_is_ids);
    lr_precision prec = LR_PREC_F32;
    int n_calib = 0, threads = 0, max_length = 0, batch_tokens = DEFAULT_BATCH_TOKENS;
    long long max_tokens = DEFAULT_MAX_TOKENS;
    bool queries = false, summary = false, quiet = false;
    lr_channel_metric metric = LR_CM_WANDA;
    if (!calibs || !calib_is_ids) lr_die("out of memory");
    int c;
    while ((c = lr_getopt(argc, argv, "m:o:c:t:qhV", opts)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'o': output = optarg; break;
        case 'c': calibs[n_calib++] = optarg; break;
        case OPT_IDS: calib_is_ids[n_calib] = true, calibs[n_calib++] = optarg; break;
        case OPT_AS_QUERIES: queries = true; break;
        case OPT_QUERIES:
            lr_usage_error("--queries is now --as-queries (lr-encode's --queries takes a file)");
        case OPT_CALIBTOK:
            max_tokens = lr_parse_long("--calib-tokens", optarg, 1, 1L << 40);
            break;
        case OPT_MAXTOK: max_length = (int)lr_parse_long("--max-tokens", optarg, 1, 1 << 24); break;
        case OPT_BATCH: batch_tokens = (int)lr_parse_long("--batch-tokens", optarg, 1, 1 << 24); break;
        case OPT_METRIC:
            if (lr_channel_metric_parse(optarg, &metric) < 0)
                lr_usage_error("--channel-metric: '%s' is not one of wanda, absmean, weight", optarg);
            break;
        case OPT_SUMMARY: summary = true; break;
        case OPT_SHOW: show = optarg; break;
        case OPT_CORPUS: corpus = optarg; break;
        case OPT_DTYPE:
            if (lr_precision_parse(optarg, &prec))
                lr_usage_error("--dtype: expected f32, bf16, int8 or fast, got '%s'", optarg);
            break;
        case 't': threads = (int)lr_parse_long("--threads", optarg, 0, 4096); break;
        case 'q': quiet = true; break;
        case 'h': usage();
        case 'V': lr_print_version();
        default: lr_usage_error("unknown option");
        }
    }
    if (optind < argc) lr_usage_error("unexpected argument '%s'", argv[optind]);
    lr_error err = {{0}};
    if (show) {
        if (model || n_calib) lr_usage_error("--show takes no model and no calibration");
        lr_scores *s = lr_scores_load(show, &err);
        if (!s) lr_die("%s", err.msg);
        lr_scores_print(s, stdout);
        lr_scores_free(s);
        free(calibs), free(calib_is_ids);
        if (fflush(stdout) != 0) lr_die("standard output: write error");
        return 0;
    }
    if (!model) model = "-";
    if (n_calib == 0 && metric != LR_CM_WEIGHT)
        lr_usage_error("give calibration text with --calib FILE or --calib-ids FILE "
                       "(only --channel-metric weight needs none)");
    int n_stdin = (strcmp(model, "-") == 0);
    for (int i = 0; i < n_calib; i++) n_stdin += strcmp(calibs[i], "-") == 0;
    n_stdin += corpus && strcmp(corpus, "-") == 0;
    if (n_stdin > 1) lr_usage_error("only one input can come from standard input");
    if (n_stdin && lr_dist_size() > 1)
        lr_usage_error("with %d ranks, inputs must be files (standard input reaches rank 0 only)",
                       lr_dist_size());
    lr_refuse_binary_tty(output, "a scores stream");

    lr_threads_init(threads);
    lr_checkpoint *ck = lr_checkpoint_load(model, &err);
    if (lr_dist_check(ck ? 0 : -1, &err)) lr_die("%s", err.msg);
    const bool rank0 = lr_dist_rank() == 0;
    lr_stats *stats = NULL;
    calib cal = {0};
    if (n_calib) {
        lr_model *m = lr_model_new(ck, &err);
        if (!m) lr_die("%s", err.msg);
        if (lr_model_set_precision(m, prec, &err))
            lr_die("--dtype %s: %s", lr_precision_name(prec), err.msg);
        lr_retrieval r;
        if (lr_retrieval_from_checkpoint(ck, &r, &err) < 0) lr_die("%s", err.msg);
        lr_retrieval_set set = LR_RETRIEVAL_KEEP;
        set.max_tokens = max_length;
        lr_retrieval_override(&r, &set);
        encoder e = {.r = &r};
        for (int i = 0; i < n_calib; i++)
            if (!calib_is_ids[i] && !e.tok) {
                e.tok = lr_tokenizer_from_checkpoint(ck, &err);
                if (!e.tok) lr_die("%s", err.msg);
            }
        stats = lr_stats_new(ck);
        cal.m = m;
        cal.stats = stats;
        cal.budget = max_tokens;
        cal.max_length = r.max_tokens > 0 ? r.max_tokens : (1 << 24);
        if (max_length) cal.max_length = max_length;
        if (cal.max_length > cal.budget) cal.max_length = (int)cal.budget;   /* fit one text at least */
        cal.batch_tokens = batch_tokens;
        cal.vocab = ck->cfg.vocab;
        char what[64];
        snprintf(what, sizeof what, lr_dist_size() > 1 ? "scoring, %d ranks" : "scoring",
                 lr_dist_size());
        cal.prog = lr_progress_new(what, 0, quiet || !rank0);
        for (int i = 0; i < n_calib && !cal.full; i++) {
            if (calib_is_ids[i]) calib_ids_file(&cal, calibs[i]);
            else {
                int kind = calib_kind(calibs[i]);
                if (kind == CALIB_PAIRS) calib_pairs_file(&cal, &e, calibs[i], corpus);
                else calib_text_file(&cal, &e, calibs[i], queries || kind == CALIB_QUERIES);
            }
        }
        flush_batch(&cal);
        lr_progress_done(cal.prog);
        sum_over_ranks(stats);
        if (cal.used == 0) lr_die("no calibration tokens: the calibration input is empty");
        lr_batch_free(&cal.batch), free(e.ids.ids);
        lr_tokenizer_free((lr_tokenizer *)e.tok);
        lr_retrieval_free(&r);
        lr_model_free(m);
    }
    lr_scores *s = lr_scores_compute(ck, stats, metric, &err);
    if (!s) lr_die("%s", err.msg);
    s->sequences = cal.seqs;
    int rc = 0;
    if (rank0) {   /* rank 0 alone writes */
        lr_out *o = lr_out_open(output, &err);
        if (!o) rc = -1;
        else if (lr_scores_write(o->fp, s, &err) < 0) rc = -1, lr_out_abort(o);
        else rc = lr_out_commit(o, &err);
    }
    if (lr_dist_check(rc, &err)) lr_die("%s", err.msg);
    if (rank0 && (summary || (!quiet && isatty(2)))) lr_scores_print(s, stderr);
    lr_scores_free(s);
    lr_stats_free(stats);
    lr_checkpoint_free(ck);
    free(calibs), free(calib_is_ids);
    return 0;
}
