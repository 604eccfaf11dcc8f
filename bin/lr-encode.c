/*
 * lr-encode - embed texts with a decoder model into an lr.embeddings stream.
 *
 *   lr-encode -m MODEL --corpus corpus.jsonl > docs.mp
 *   lr-encode -m MODEL --queries queries.jsonl > queries.mp
 */
#include "config.h"
#include "lr.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
    printf("Usage: lr-encode [-m MODEL] (--corpus FILE | --queries FILE) [OPTION]...\n"
           "Embed texts with a decoder model: tokenise, run the forward pass over packed\n"
           "batches, pool, and write an lr.embeddings msgpack stream in input order.\n"
           "\n"
           "Inputs:\n"
           "  -m, --model PATH          model: tar file, unpacked Hugging Face directory,\n"
           "                            or a tar on stdin (default)\n"
           "      --corpus FILE         passages: BEIR corpus.jsonl (_id, title, text; the\n"
           "                            text is \"title text\" when there is a title) or\n"
           "                            id<TAB>text lines; \"-\" = stdin\n"
           "      --queries FILE        queries: BEIR queries.jsonl (_id, text) or\n"
           "                            id<TAB>text lines; \"-\" = stdin\n"
           "\n"
           "Retrieval settings (defaults from the model's lr.json, else as shown):\n"
           "      --query-prefix STR    text put before every query (default none)\n"
           "      --passage-prefix STR  text put before every passage (default none)\n"
           "      --pooling last|mean   last token's or mean hidden state (default last)\n"
           "      --max-tokens N        truncate to N tokens, appended EOS included\n"
           "                            (default 512)\n"
           "      --no-normalize        do not L2-normalise the vectors\n"
           "      --normalize           L2-normalise the vectors\n"
           "      --no-eos              do not append the tokenizer's EOS token\n"
           "      --eos                 append the EOS token\n"
           "\n"
           "Batching and output:\n"
           "      --batch-tokens N      tokens per forward pass (default 4096); texts are\n"
           "                            sorted by length within a window to pack them\n"
           "      --shard I/N           encode only texts I, I+N, I+2N, ... (0-based), so\n"
           "                            that shards concatenate into one stream\n"
           "      --tokenize            print each text's ids as a JSON array, one per line,\n"
           "                            instead of encoding (special tokens included)\n"
           "  -o, --output FILE         write to FILE (default stdout); no partial file\n"
           "      --dtype TYPE          arithmetic of the projections: f32 (exact, the\n"
           "                            default), bf16, int8 or fast (the fastest of\n"
           "                            these that the CPU runs well; -v says which)\n"
           "  -t, --threads N           threads (default 0: all cores)\n"
           "  -q, --quiet               no progress on stderr\n"
           "  -v, --verbose             print a summary (tokens/s, GFLOP/s) at the end\n"
           "  -h, --help                show this help and exit\n"
           "  -V, --version             show the version and exit\n"
           "\n"
           "With --no-eos --pooling last --no-normalize and no prefixes, a vector is the\n"
           "final-norm hidden state of the last token the tokenizer produced.\n"
           "See lr-encode(1) and lr-formats(5).\n");
    exit(0);
}

enum {
    OPT_CORPUS = 256, OPT_QUERIES, OPT_QPREFIX, OPT_PPREFIX, OPT_POOLING, OPT_MAX_TOKENS,
    OPT_NO_NORM, OPT_NORM, OPT_NO_EOS, OPT_EOS, OPT_BATCH_TOKENS, OPT_SHARD, OPT_TOKENIZE,
    OPT_DTYPE,
};

/* one text of the current window */
typedef struct item {
    char *id, *text;
    size_t len;
    int64_t line;
} item;

typedef struct settings {
    const char *path;
    bool is_query, tokenize, quiet, verbose;
    int batch_tokens, shard_i, shard_n;
} settings;

/* Read a regular file's texts once before encoding, so that a malformed
 * line fails before anything is written (standard output cannot be taken
 * back).  Returns the number of texts, for the progress ETA; -1 for a pipe,
 * which is checked as it streams. */
static int64_t check_texts(const char *path)
{
    struct stat st;
    if (!strcmp(path, "-") || stat(path, &st) || !S_ISREG(st.st_mode)) return -1;
    lr_error err;
    lr_text_reader *rd = lr_text_open(path, &err);
    if (!rd) lr_die("%s", err.msg);
    lr_text t;
    int64_t n = 0;
    int rc;
    while ((rc = lr_text_next(rd, &t, &err)) > 0) n++;
    if (rc < 0) lr_die("%s", err.msg);
    lr_text_close(rd);
    return n;
}

/* Read up to max texts of this shard (or until max_bytes of text). */
static int read_window(lr_text_reader *rd, const settings *s, int64_t *seen, item *w, int max,
                       size_t max_bytes)
{
    int n = 0;
    size_t bytes = 0;
    lr_error err;
    lr_text t;
    while (n < max && bytes < max_bytes) {
        int rc = lr_text_next(rd, &t, &err);
        if (rc < 0) lr_die("%s", err.msg);
        if (rc == 0) break;
        int64_t k = (*seen)++;
        if (k % s->shard_n != s->shard_i) continue;
        item *it = &w[n++];
        free(it->id);
        free(it->text);
        it->id = strdup(t.id);
        it->text = malloc(t.len + 1);
        if (!it->id || !it->text) lr_die("out of memory");
        memcpy(it->text, t.text, t.len);
        it->text[t.len] = 0;
        it->len = t.len;
        it->line = lr_text_line(rd);
        bytes += t.len;
    }
    return n;
}

/* The ids of a window's texts; a text that fails is named by line and id. */
static void tokenize_window(const lr_encoder *enc, const settings *s, const item *w, int n,
                            const char **texts, size_t *lens, lr_ids *ids)
{
    for (int i = 0; i < n; i++) texts[i] = w[i].text, lens[i] = w[i].len;
    lr_error err;
    int bad;
    if (lr_encoder_tokenize(enc, s->is_query, texts, lens, n, ids, &bad, &err))
        lr_die("%s: line %lld: id \"%s\": %s", s->path, (long long)w[bad].line, w[bad].id, err.msg);
}

int main(int argc, char **argv)
{
    lr_cli_init(argv[0]);
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},
        {"corpus", required_argument, 0, OPT_CORPUS},
        {"queries", required_argument, 0, OPT_QUERIES},
        {"query-prefix", required_argument, 0, OPT_QPREFIX},
        {"passage-prefix", required_argument, 0, OPT_PPREFIX},
        {"pooling", required_argument, 0, OPT_POOLING},
        {"max-tokens", required_argument, 0, OPT_MAX_TOKENS},
        {"no-normalize", no_argument, 0, OPT_NO_NORM},
        {"normalize", no_argument, 0, OPT_NORM},
        {"no-eos", no_argument, 0, OPT_NO_EOS},
        {"eos", no_argument, 0, OPT_EOS},
        {"batch-tokens", required_argument, 0, OPT_BATCH_TOKENS},
        {"shard", required_argument, 0, OPT_SHARD},
        {"tokenize", no_argument, 0, OPT_TOKENIZE},
        {"dtype", required_argument, 0, OPT_DTYPE},
        {"output", required_argument, 0, 'o'},
        {"threads", required_argument, 0, 't'},
        {"quiet", no_argument, 0, 'q'},
        {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    settings s = {.batch_tokens = 4096, .shard_i = 0, .shard_n = 1};
    const char *model = NULL, *output = NULL;
    const char *corpus = NULL, *queries = NULL;
    lr_retrieval_set set = LR_RETRIEVAL_KEEP;
    int threads = 0;
    lr_precision prec = LR_PREC_F32;
    int c;
    while ((c = lr_getopt(argc, argv, "m:o:t:qvhV", opts)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case OPT_CORPUS: corpus = optarg; break;
        case OPT_QUERIES: queries = optarg; break;
        case OPT_QPREFIX: set.query_prefix = optarg; break;
        case OPT_PPREFIX: set.passage_prefix = optarg; break;
        case OPT_POOLING: {
            lr_pooling p;
            if (lr_pooling_parse(optarg, &p))
                lr_usage_error("--pooling: expected last or mean, got '%s'", optarg);
            set.pooling = p;
            break;
        }
        case OPT_MAX_TOKENS:
            set.max_tokens = (int)lr_parse_long("--max-tokens", optarg, 1, 1 << 24);
            break;
        case OPT_NO_NORM: set.normalize = 0; break;
        case OPT_NORM: set.normalize = 1; break;
        case OPT_NO_EOS: set.append_eos = 0; break;
        case OPT_EOS: set.append_eos = 1; break;
        case OPT_BATCH_TOKENS:
            s.batch_tokens = (int)lr_parse_long("--batch-tokens", optarg, 1, 1 << 24);
            break;
        case OPT_SHARD: lr_parse_shard("--shard", optarg, &s.shard_i, &s.shard_n); break;
        case OPT_TOKENIZE: s.tokenize = true; break;
        case OPT_DTYPE:
            if (lr_precision_parse(optarg, &prec))
                lr_usage_error("--dtype: expected f32, bf16, int8 or fast, got '%s'", optarg);
            break;
        case 'o': output = optarg; break;
        case 't': threads = (int)lr_parse_long("--threads", optarg, 0, 4096); break;
        case 'q': s.quiet = true; break;
        case 'v': s.verbose = true; break;
        case 'h': usage();
        case 'V': lr_print_version();
        default: lr_usage_error("unknown option");
        }
    }
    if (optind < argc) lr_usage_error("unexpected argument '%s'", argv[optind]);
    if (!corpus == !queries) lr_usage_error("give one of --corpus FILE or --queries FILE");
    s.is_query = queries != NULL;
    s.path = s.is_query ? queries : corpus;
    if ((!model || !strcmp(model, "-")) && !strcmp(s.path, "-"))
        lr_usage_error("the model and the texts cannot both come from stdin");
    if (!s.tokenize) lr_refuse_binary_tty(output, "an embeddings stream");
    lr_threads_init(threads);

    lr_error err;
    /* the texts first: a missing file fails before a long model load */
    lr_text_reader *rd = lr_text_open(s.path, &err);
    if (!rd) lr_die("%s", err.msg);
    int64_t total = check_texts(s.path);
    lr_checkpoint *ck = lr_checkpoint_load(model, &err);
    if (!ck) lr_die("%s", err.msg);
    lr_encoder *enc = lr_encoder_new(ck, &set, &err);
    if (!enc) lr_die("%s", err.msg);
    const lr_retrieval *r = lr_encoder_retrieval(enc);
    if (!s.tokenize) {
        if (lr_encoder_set_precision(enc, prec, &err))
            lr_die("--dtype %s: %s", lr_precision_name(prec), err.msg);
        if (s.verbose && prec == LR_PREC_FAST)
            fprintf(stderr, "%s: --dtype fast: %s on this CPU\n", lr_progname(),
                    lr_precision_name(lr_encoder_precision(enc)));
    }
    lr_encoder_set_batch_tokens(enc, s.batch_tokens);
    lr_out *out = lr_out_open(output, &err);
    if (!out) lr_die("%s", err.msg);
    lr_emb_writer *ew = NULL;
    const int H = ck->cfg.hidden;
    /* the header goes out with the first records (or at the end), so that
     * bad input in the first window leaves nothing on stdout either */
    lr_emb_header h = {0};
    snprintf(h.model, sizeof h.model, "%s", lr_checkpoint_digest(ck));
    h.dim = H;
    snprintf(h.pooling, sizeof h.pooling, "%s", lr_pooling_name(r->pooling));
    h.normalized = r->normalize;
    snprintf(h.kind, sizeof h.kind, "%s", s.is_query ? "query" : "passage");

    /* a window: enough texts to sort by length and fill several batches */
    const int WMAX = 4096;
    const size_t WBYTES = (size_t)s.batch_tokens * 64 > (64u << 20) ? (64u << 20)
                                                                     : (size_t)s.batch_tokens * 64;
    item *w = calloc(WMAX, sizeof *w);
    lr_ids *ids = calloc(WMAX, sizeof *ids);
    const char **texts = malloc(WMAX * sizeof *texts);
    size_t *lens = malloc(WMAX * sizeof *lens);
    float *vecs = NULL;
    if (!w || !ids || !texts || !lens) lr_die("out of memory");
    if (!s.tokenize && !(vecs = malloc((size_t)WMAX * H * sizeof(float)))) lr_die("out of memory");
    if (total > 0) total = total / s.shard_n + (total % s.shard_n > s.shard_i);
    lr_progress *prog = s.tokenize ? NULL : lr_progress_new("encoding", total, s.quiet);
    lr_encoder_set_progress(enc, prog);
    int64_t seen = 0, n_texts = 0;
    double t0 = lr_now();
    for (;;) {
        int n = read_window(rd, &s, &seen, w, WMAX, WBYTES);
        if (!n) break;
        tokenize_window(enc, &s, w, n, texts, lens, ids);
        if (s.tokenize) {
            for (int i = 0; i < n; i++) {
                fputc('[', out->fp);
                for (size_t k = 0; k < ids[i].n; k++)
                    fprintf(out->fp, k ? ", %d" : "%d", (int)ids[i].ids[k]);
                fputs("]\n", out->fp);
            }
            n_texts += n;
            continue;
        }
        if (lr_encoder_embed(enc, ids, n, vecs, &err)) lr_die("%s: %s", s.path, err.msg);
        if (!ew && !(ew = lr_emb_writer_new(out->fp, &h, &err))) lr_die("%s", err.msg);
        for (int i = 0; i < n; i++)
            if (lr_emb_write(ew, w[i].id, vecs + (size_t)i * H, &err)) lr_die("%s", err.msg);
        n_texts += n;
    }
    double el = lr_now() - t0;
    if (!s.tokenize && !ew && !(ew = lr_emb_writer_new(out->fp, &h, &err))) lr_die("%s", err.msg);
    if (ew && lr_emb_writer_close(ew, &err)) lr_die("%s", err.msg);
    if (lr_out_commit(out, &err)) lr_die("%s", err.msg);
    lr_progress_done(prog);
    const lr_encoder_stats st = lr_encoder_get_stats(enc);
    const int64_t n_tokens = st.tokens;
    const double flops = st.flops, fwd_time = st.forward_seconds;
    if (s.verbose && !s.tokenize)
        fprintf(stderr,
                "%s: %lld texts, %lld tokens in %.2f s (forward %.2f s): %.1f texts/s, "
                "%.1f tokens/s, %.1f GFLOP/s overall, %.1f GFLOP/s in the forward "
                "(%d threads, BLIS %s, %s projections)\n",
                lr_progname(), (long long)n_texts, (long long)n_tokens, el, fwd_time,
                el > 0 ? n_texts / el : 0, el > 0 ? n_tokens / el : 0,
                el > 0 ? flops / el * 1e-9 : 0, fwd_time > 0 ? flops / fwd_time * 1e-9 : 0,
                lr_threads(), lr_blas_arch(), lr_precision_name(lr_encoder_precision(enc)));
    for (int i = 0; i < WMAX; i++) {
        free(w[i].id);
        free(w[i].text);
        free(ids[i].ids);
    }
    free(w);
    free(ids);
    free(texts);
    free(lens);
    free(vecs);
    lr_text_close(rd);
    lr_encoder_free(enc);
    lr_checkpoint_free(ck);
    return 0;
}
