/* traindata.c - training inputs: query/passage examples (BEIR train split
 * or JSONL rows of texts or corpus ids) and plain text for the lm objective. */
#include "config.h"
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <sys/stat.h>

typedef struct data_priv {
    lr_strmap corpus;     /* corpus id -> passage index */
    lr_strmap inline_ids; /* id of inline passage objects -> passage index */
    lr_strmap qids;       /* query id -> example index */
    size_t cap_passages, cap_passage_ids, cap_ex;
    bool have_corpus;
} data_priv;

static int add_passage(lr_train_data *d, const char *id, char *text)
{
    data_priv *pv = d->priv;
    d->passages = lr_grow(d->passages, &pv->cap_passages, d->n_passages + 1, sizeof *d->passages);
    d->passage_ids = lr_grow(d->passage_ids, &pv->cap_passage_ids, d->n_passages + 1, sizeof *d->passage_ids);
    d->passages[d->n_passages] = text;
    d->passage_ids[d->n_passages] = lr_xstrdup(id ? id : "");
    return (int)d->n_passages++;
}

static lr_train_example *add_example(lr_train_data *d)
{
    data_priv *pv = d->priv;
    d->ex = lr_grow(d->ex, &pv->cap_ex, d->n + 1, sizeof *d->ex);
    lr_train_example *e = &d->ex[d->n++];
    memset(e, 0, sizeof *e);
    return e;
}

static void push_int(int **a, int *n, int v)
{
    /* grow in powers of two */
    if ((*n & (*n - 1)) == 0) *a = lr_xrealloc(*a, (size_t)(*n ? 2 * *n : 1) * sizeof(int));
    (*a)[(*n)++] = v;
}

static bool blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s)) return false;
    return true;
}

/* "title text" as BEIR: the title and a space when the title is non-empty */
static char *join_title(const char *title, const char *text)
{
    if (!title || !*title) return lr_xstrdup(text ? text : "");
    size_t a = strlen(title), b = text ? strlen(text) : 0;
    char *s = lr_xmalloc(a + b + 2);
    memcpy(s, title, a);
    s[a] = ' ';
    if (b) memcpy(s + a + 1, text, b);
    s[a + 1 + b] = 0;
    return s;
}

/* Iterate over the lines of a whole-file buffer (modified in place). */
typedef struct line_iter {
    char *p, *end;
    int line;
} line_iter;

static char *next_line(line_iter *it, size_t *len)
{
    if (it->p >= it->end) return NULL;
    char *s = it->p;
    char *nl = memchr(s, '\n', (size_t)(it->end - s));
    char *e = nl ? nl : it->end;
    it->p = nl ? nl + 1 : it->end;
    it->line++;
    if (e > s && e[-1] == '\r') e--;
    *e = 0;
    *len = (size_t)(e - s);
    return s;
}

static const char *json_str_field(json_t *o, const char *const *keys)
{
    for (; *keys; keys++) {
        json_t *v = json_object_get(o, *keys);
        if (json_is_string(v)) return json_string_value(v);
        if (json_is_integer(v)) {
            static __thread char buf[32];
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
            return buf;
        }
    }
    return NULL;
}

static json_t *json_array_field(json_t *o, const char *const *keys)
{
    for (; *keys; keys++) {
        json_t *v = json_object_get(o, *keys);
        if (v) return v;
    }
    return NULL;
}

/* The readers below see one JSON object per row; where it came from goes
 * into their messages. */
typedef int (*row_fn)(json_t *o, const char *path, int line, void *ctx, lr_error *err);

/* Call fn on every row of the JSONL text buf (modified in place) until it
 * fails.  Blank lines are skipped; a line that is not a JSON object is an
 * error naming it. */
static int each_row(char *buf, size_t len, const char *path, row_fn fn, void *ctx, lr_error *err)
{
    line_iter it = {buf, buf + len, 0};
    char *s;
    size_t n;
    int rc = 0;
    while (rc == 0 && (s = next_line(&it, &n))) {
        if (blank(s)) continue;
        json_error_t je;
        json_t *o = json_loadb(s, n, 0, &je);
        if (!o || !json_is_object(o))
            rc = lr_errorf(err, "%s: line %d: malformed JSON: %s", path, it.line,
                           o ? "expected an object" : je.text);
        else
            rc = fn(o, path, it.line, ctx, err);
        json_decref(o);
    }
    return rc;
}

static int each_file_row(const char *path, row_fn fn, void *ctx, lr_error *err)
{
    size_t len;
    char *buf = lr_read_file(path, &len, err);
    if (!buf) return -1;
    int rc = each_row(buf, len, strcmp(path, "-") ? path : "stdin", fn, ctx, err);
    free(buf);
    return rc;
}

static int corpus_row(json_t *o, const char *path, int line, void *ctx, lr_error *err)
{
    lr_train_data *d = ctx;
    data_priv *pv = d->priv;
    const char *id = json_str_field(o, (const char *const[]){"_id", "id", "docid", NULL});
    json_t *text = json_object_get(o, "text");
    if (!id || !json_is_string(text))
        return lr_errorf(err, "%s: line %d: expected \"_id\" and \"text\"", path, line);
    const char *title = json_string_value(json_object_get(o, "title"));
    char *t = join_title(title, json_string_value(text));
    if (lr_strmap_get(&pv->corpus, id) >= 0) {
        free(t);
        return lr_errorf(err, "%s: line %d: _id \"%s\" appears twice in the corpus", path, line, id);
    }
    lr_strmap_put(&pv->corpus, id, add_passage(d, id, t));
    return 0;
}

static int load_corpus(lr_train_data *d, const char *path, lr_error *err)
{
    data_priv *pv = d->priv;
    int rc = each_file_row(path, corpus_row, d, err);
    if (rc == 0 && pv->corpus.n == 0) rc = lr_errorf(err, "%s: empty corpus", path);
    pv->have_corpus = true;
    return rc;
}

/* Resolve one pos/neg entry: an object {id,title,text}, or a string that
 * is a corpus id (with a corpus) or a text (without). */
static int resolve_entry(lr_train_data *d, json_t *v, const char *path, int line,
                         const char *what, lr_error *err)
{
    data_priv *pv = d->priv;
    if (json_is_object(v)) {
        const char *id = json_str_field(v, (const char *const[]){"_id", "id", "docid", NULL});
        json_t *text = json_object_get(v, "text");
        if (!json_is_string(text)) {
            if (id && pv->have_corpus) {
                int k = lr_strmap_get(&pv->corpus, id);
                if (k < 0) return lr_errorf(err, "%s: line %d: unknown corpus id \"%s\"", path, line, id);
                return k;
            }
            return lr_errorf(err, "%s: line %d: %s passage without \"text\"", path, line, what);
        }
        if (id && *id) {
            int k = lr_strmap_get(&pv->inline_ids, id);
            if (k >= 0) return k;
        }
        char *t = join_title(json_string_value(json_object_get(v, "title")), json_string_value(text));
        if (blank(t)) {
            free(t);
            return lr_errorf(err, "%s: line %d: empty %s passage text", path, line, what);
        }
        int k = add_passage(d, id, t);
        if (id && *id) lr_strmap_put(&pv->inline_ids, id, k);
        return k;
    }
    const char *s = NULL;
    char num[32];
    if (json_is_string(v)) s = json_string_value(v);
    else if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        s = num;
    } else
        return lr_errorf(err, "%s: line %d: %s entries must be strings or objects", path, line, what);
    if (pv->have_corpus) {
        int k = lr_strmap_get(&pv->corpus, s);
        if (k < 0) return lr_errorf(err, "%s: line %d: unknown corpus id \"%s\"", path, line, s);
        return k;
    }
    if (blank(s)) return lr_errorf(err, "%s: line %d: empty %s passage text", path, line, what);
    return add_passage(d, NULL, lr_xstrdup(s));
}

static const char *const qid_keys[] = {"qid", "query_id", "_id", "id", NULL};
static const char *const pos_keys[] = {"pos", "positives", "positive", "positive_passages", NULL};
static const char *const neg_keys[] = {"neg", "negatives", "negative", "hard_neg", "hard_negatives",
                                       "bm25_neg", "negative_passages", NULL};

static int add_entries(lr_train_data *d, json_t *arr, int **out, int *n, const char *path,
                       int line, const char *what, lr_error *err)
{
    if (!arr || json_is_null(arr)) return 0;
    if (!json_is_array(arr)) {
        /* a single entry is accepted as a list of one */
        int k = resolve_entry(d, arr, path, line, what, err);
        if (k < 0) return -1;
        push_int(out, n, k);
        return 0;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        int k = resolve_entry(d, v, path, line, what, err);
        if (k < 0) return -1;
        push_int(out, n, k);
    }
    return 0;
}

static int train_row(json_t *o, const char *path, int line, void *ctx, lr_error *err)
{
    lr_train_data *d = ctx;
    data_priv *pv = d->priv;
    const char *q = json_str_field(o, (const char *const[]){"query", "question", NULL});
    if (!q) return lr_errorf(err, "%s: line %d: expected a \"query\" string", path, line);
    if (blank(q)) return lr_errorf(err, "%s: line %d: empty query text", path, line);
    lr_train_example *e = add_example(d);
    const char *qid = json_str_field(o, qid_keys);
    e->qid = lr_xstrdup(qid ? qid : "");
    e->query = lr_xstrdup(q);
    e->line = line;
    if (add_entries(d, json_array_field(o, pos_keys), &e->pos, &e->n_pos, path, line, "positive",
                    err) ||
        add_entries(d, json_array_field(o, neg_keys), &e->neg, &e->n_neg, path, line, "negative",
                    err))
        return -1;
    if (e->n_pos == 0) return lr_errorf(err, "%s: line %d: no positive passage", path, line);
    if (*e->qid) lr_strmap_put(&pv->qids, e->qid, (int)(d->n - 1));
    return 0;
}

static int load_rows(lr_train_data *d, const char *path, lr_error *err)
{
    int rc = each_file_row(path, train_row, d, err);
    if (rc == 0 && d->n == 0) rc = lr_errorf(err, "%s: no training examples", path);
    return rc;
}

/* Query texts of a BEIR queries.jsonl, by id. */
typedef struct query_texts {
    lr_strmap ids;
    char **texts;
    size_t n, cap;
} query_texts;

static int query_row(json_t *o, const char *path, int line, void *ctx, lr_error *err)
{
    query_texts *q = ctx;
    const char *id = json_str_field(o, qid_keys);
    json_t *t = json_object_get(o, "text");
    if (!id || !json_is_string(t))
        return lr_errorf(err, "%s: line %d: expected \"_id\" and \"text\"", path, line);
    q->texts = lr_grow(q->texts, &q->cap, q->n + 1, sizeof *q->texts);
    q->texts[q->n] = lr_xstrdup(json_string_value(t));
    lr_strmap_put(&q->ids, id, (int)q->n++);
    return 0;
}

/* BEIR train split: queries.jsonl + qrels/train.tsv (+ corpus.jsonl). */
static int load_beir(lr_train_data *d, const char *dir, lr_error *err)
{
    data_priv *pv = d->priv;
    char path[4096];
    /* queries */
    snprintf(path, sizeof path, "%s/queries.jsonl", dir);
    query_texts qt = {0};
    int rc = each_file_row(path, query_row, &qt, err);
    /* qrels */
    size_t len = 0;
    char *buf = NULL;
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/qrels/train.tsv", dir);
        buf = lr_read_file(path, &len, err);
        if (!buf) rc = -1;
    }
    if (buf) {
        line_iter it = {buf, buf + len, 0};
        char *s;
        size_t n;
        while (rc == 0 && (s = next_line(&it, &n))) {
            if (blank(s)) continue;
            char *f[4];
            int nf = 0;
            for (char *tok = strtok(s, " \t"); tok && nf < 4; tok = strtok(NULL, " \t")) f[nf++] = tok;
            if (it.line == 1 && nf >= 1 && (strcmp(f[0], "query-id") == 0 || strcmp(f[0], "qid") == 0))
                continue;   /* header */
            if (nf < 3) {
                rc = lr_errorf(err, "%s: line %d: expected \"query-id corpus-id score\"", path, it.line);
                break;
            }
            /* TREC layout: qid 0 docno rel */
            const char *qid = f[0], *did = nf == 4 ? f[2] : f[1], *sc = nf == 4 ? f[3] : f[2];
            char *endp;
            errno = 0;
            double score = strtod(sc, &endp);
            if (*endp || errno) {
                rc = lr_errorf(err, "%s: line %d: bad relevance \"%s\"", path, it.line, sc);
                break;
            }
            if (score <= 0) continue;
            int k = lr_strmap_get(&pv->corpus, did);
            if (k < 0) {
                rc = lr_errorf(err, "%s: line %d: unknown corpus id \"%s\"", path, it.line, did);
                break;
            }
            int ei = lr_strmap_get(&pv->qids, qid);
            if (ei < 0) {
                int k_q = lr_strmap_get(&qt.ids, qid);
                if (k_q < 0) {
                    rc = lr_errorf(err, "%s: line %d: query id \"%s\" not in queries.jsonl", path,
                                   it.line, qid);
                    break;
                }
                if (blank(qt.texts[k_q])) {
                    rc = lr_errorf(err, "%s/queries.jsonl: query \"%s\": empty query text", dir, qid);
                    break;
                }
                lr_train_example *e = add_example(d);
                e->qid = lr_xstrdup(qid);
                e->query = lr_xstrdup(qt.texts[k_q]);
                ei = (int)d->n - 1;
                lr_strmap_put(&pv->qids, qid, ei);
            }
            push_int(&d->ex[ei].pos, &d->ex[ei].n_pos, k);
        }
        free(buf);
        if (rc == 0 && d->n == 0) rc = lr_errorf(err, "%s: no positive judgements", path);
    }
    for (size_t i = 0; i < qt.n; i++) free(qt.texts[i]);
    free(qt.texts);
    lr_strmap_free(&qt.ids);
    return rc;
}

/* Hard negatives by query id: JSONL {"qid": ..., "neg": [ids]}. */
static int negatives_row(json_t *o, const char *path, int line, void *ctx, lr_error *err)
{
    lr_train_data *d = ctx;
    data_priv *pv = d->priv;
    const char *qid = json_str_field(o, qid_keys);
    if (!qid) return lr_errorf(err, "%s: line %d: expected a query id (\"qid\")", path, line);
    int ei = lr_strmap_get(&pv->qids, qid);
    if (ei < 0) return 0;   /* queries without training positives are skipped */
    return add_entries(d, json_array_field(o, neg_keys), &d->ex[ei].neg, &d->ex[ei].n_neg, path,
                       line, "negative", err);
}

static int load_negatives(lr_train_data *d, const char *path, lr_error *err)
{
    return each_file_row(path, negatives_row, d, err);
}

lr_train_data *lr_train_data_load(const char *path, const char *corpus, const char *negatives,
                                  lr_error *err)
{
    lr_train_data *d = lr_xcalloc(1, sizeof *d);
    data_priv *pv = lr_xcalloc(1, sizeof *pv);
    d->priv = pv;
    struct stat st;
    bool is_stdin = strcmp(path, "-") == 0;   /* rows on standard input */
    if (!is_stdin && stat(path, &st) != 0) {
        lr_errorf(err, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (!is_stdin && S_ISDIR(st.st_mode)) {
        char cpath[4096];
        if (!corpus) {
            snprintf(cpath, sizeof cpath, "%s/corpus.jsonl", path);
            corpus = cpath;
        }
        if (load_corpus(d, corpus, err) || load_beir(d, path, err)) goto fail;
    } else {
        if (corpus && load_corpus(d, corpus, err)) goto fail;
        if (load_rows(d, path, err)) goto fail;
    }
    if (negatives && load_negatives(d, negatives, err)) goto fail;
    for (size_t i = 0; i < d->n; i++)
        for (int j = 0; j < d->ex[i].n_pos; j++)
            if (blank(d->passages[d->ex[i].pos[j]])) {
                lr_errorf(err, "%s: query \"%s\": empty positive passage text (id \"%s\")", path,
                          d->ex[i].qid, d->passage_ids[d->ex[i].pos[j]]);
                goto fail;
            }
    return d;
fail:
    lr_train_data_free(d);
    return NULL;
}

void lr_train_data_free(lr_train_data *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->n; i++) {
        free(d->ex[i].qid);
        free(d->ex[i].query);
        free(d->ex[i].pos);
        free(d->ex[i].neg);
    }
    free(d->ex);
    for (size_t i = 0; i < d->n_passages; i++) {
        free(d->passages[i]);
        free(d->passage_ids[i]);
    }
    free(d->passages);
    free(d->passage_ids);
    data_priv *pv = d->priv;
    if (pv) {
        lr_strmap_free(&pv->corpus);
        lr_strmap_free(&pv->inline_ids);
        lr_strmap_free(&pv->qids);
        free(pv);
    }
    free(d);
}

/* ---------------- plain text for lm ---------------- */

static int lm_add_doc(lr_ids *all, const lr_tokenizer *tok, const char *text, size_t len,
                      const char *path, int line, lr_error *err)
{
    size_t before = all->n;
    if (lr_tokenize(tok, text, len, true, all, err)) return lr_error_prefix(err, "%s: line %d", path, line);
    int eos = lr_tokenizer_eos_id(tok);
    /* documents end with EOS so that the model learns where text stops */
    if (eos >= 0 && all->n > before && all->ids[all->n - 1] != eos) lr_ids_push(all, eos);
    return 0;
}

typedef struct lm_ctx {
    lr_ids *all;
    const lr_tokenizer *tok;
} lm_ctx;

static int lm_row(json_t *o, const char *path, int line, void *ctx, lr_error *err)
{
    lm_ctx *c = ctx;
    json_t *t = json_object_get(o, "text");
    if (!json_is_string(t)) return lr_errorf(err, "%s: line %d: expected a \"text\" string", path, line);
    char *doc = join_title(json_string_value(json_object_get(o, "title")), json_string_value(t));
    int rc = blank(doc) ? 0 : lm_add_doc(c->all, c->tok, doc, strlen(doc), path, line, err);
    free(doc);
    return rc;
}

lr_lm_data *lr_lm_data_load(const char *path, const lr_tokenizer *tok, int max_len, lr_error *err)
{
    if (max_len < 2) {
        lr_errorf(err, "sequence length %d too short for the lm objective", max_len);
        return NULL;
    }
    size_t len;
    char *buf = lr_read_file(path, &len, err);
    const char *what = strcmp(path, "-") ? path : "stdin";
    if (!buf) return NULL;
    lr_ids all = {0};
    int rc = 0;
    const char *p = buf;
    while (p < buf + len && isspace((unsigned char)*p)) p++;
    if (p < buf + len && *p == '{') {
        rc = each_row(buf, len, what, lm_row, &(lm_ctx){&all, tok}, err);
    } else {
        /* paragraphs: runs of non-blank lines */
        line_iter it = {buf, buf + len, 0};
        char *s;
        size_t n;
        char *para = NULL;
        size_t plen = 0, pcap = 0;
        int pline = 0;
        for (;;) {
            s = next_line(&it, &n);
            if (!s || blank(s)) {
                if (plen) rc = lm_add_doc(&all, tok, para, plen, what, pline, err);
                plen = 0;
                if (!s || rc) break;
                continue;
            }
            if (!plen) pline = it.line;
            para = lr_grow(para, &pcap, plen + n + 2, 1);
            if (plen) para[plen++] = '\n';
            memcpy(para + plen, s, n);
            plen += n;
            para[plen] = 0;
        }
        free(para);
    }
    free(buf);
    if (rc == 0 && all.n < 2) rc = lr_errorf(err, "%s: no text to train on", what);
    if (rc) {
        free(all.ids);
        return NULL;
    }
    lr_lm_data *d = lr_xcalloc(1, sizeof *d);
    d->ids = all.ids;
    d->n_ids = (int64_t)all.n;
    int64_t ns = (d->n_ids + max_len - 1) / max_len;
    d->start = lr_xmalloc((size_t)(ns + 1) * sizeof(int64_t));
    for (int64_t i = 0; i < ns; i++) d->start[i] = i * max_len;
    d->start[ns] = d->n_ids;
    /* a final piece of one token predicts nothing: drop it */
    if (ns > 1 && d->n_ids - d->start[ns - 1] < 2) {
        ns--;
        d->start[ns] = d->n_ids - 1;
    }
    d->n_seq = ns;
    return d;
}

void lr_lm_data_free(lr_lm_data *d)
{
    if (!d) return;
    free(d->ids);
    free(d->start);
    free(d);
}

/* ---------------- teacher embeddings ---------------- */

struct lr_teacher {
    char *qpath, *ppath;
    int dim;
    lr_strmap q, p;
    float *qv, *pv;
    size_t nq, np;
};

static int load_emb(const char *path, int *dim, lr_strmap *map, float **vecs, size_t *n, lr_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return lr_errorf(err, "%s: %s", path, strerror(errno));
    lr_emb_reader *r = lr_emb_reader_open(f, path, err);
    if (!r) {
        fclose(f);
        return -1;
    }
    const lr_emb_header *h = lr_emb_reader_header(r);
    int rc = 0;
    if (*dim && h->dim != *dim)
        rc = lr_errorf(err, "%s: dimension %d, the other teacher stream has %d", path, h->dim, *dim);
    *dim = h->dim;
    char **ids = NULL;
    if (rc == 0 && lr_emb_read_all(r, vecs, &ids, n, err) < 0) rc = -1;
    for (size_t i = 0; rc == 0 && i < *n; i++) lr_strmap_put(map, ids[i], (int)i);
    for (size_t i = 0; ids && i < *n; i++) free(ids[i]);
    free(ids);
    lr_emb_reader_close(r);
    fclose(f);
    if (rc == 0 && *n == 0) rc = lr_errorf(err, "%s: no embeddings", path);
    return rc;
}

lr_teacher *lr_teacher_load(const char *queries, const char *passages, lr_error *err)
{
    lr_teacher *t = lr_xcalloc(1, sizeof *t);
    t->qpath = lr_xstrdup(queries);
    t->ppath = lr_xstrdup(passages);
    if (load_emb(queries, &t->dim, &t->q, &t->qv, &t->nq, err) ||
        load_emb(passages, &t->dim, &t->p, &t->pv, &t->np, err)) {
        lr_teacher_free(t);
        return NULL;
    }
    return t;
}

void lr_teacher_free(lr_teacher *t)
{
    if (!t) return;
    lr_strmap_free(&t->q);
    lr_strmap_free(&t->p);
    free(t->qpath), free(t->ppath);
    free(t->qv);
    free(t->pv);
    free(t);
}

const float *lr_teacher_query(const lr_teacher *t, const char *id)
{
    int k = lr_strmap_get(&t->q, id);
    return k < 0 ? NULL : t->qv + (size_t)k * t->dim;
}

const float *lr_teacher_passage(const lr_teacher *t, const char *id)
{
    int k = lr_strmap_get(&t->p, id);
    return k < 0 ? NULL : t->pv + (size_t)k * t->dim;
}

int lr_teacher_dim(const lr_teacher *t)
{
    return t->dim;
}

/* The row of an example, for messages: "FILE: line N" or "FILE: query ID". */
static void example_place(char *buf, size_t n, const char *what, const lr_train_example *ex)
{
    if (ex->line > 0) snprintf(buf, n, "%s: line %d", what, ex->line);
    else snprintf(buf, n, "%s: query \"%s\"", what, ex->qid);
}

int lr_teacher_check(const lr_teacher *t, const lr_train_data *d, const char *what, lr_error *err)
{
    char place[512];
    for (size_t i = 0; i < d->n; i++) {
        const lr_train_example *ex = &d->ex[i];
        example_place(place, sizeof place, what, ex);
        if (!*ex->qid)
            return lr_errorf(err, "%s: the query has no id (\"qid\"): distillation looks up "
                             "the teacher's embeddings by id", place);
        if (!lr_teacher_query(t, ex->qid))
            return lr_errorf(err, "%s: query id \"%s\" has no embedding in %s", place, ex->qid,
                             t->qpath);
        for (int k = 0; k < ex->n_pos + ex->n_neg; k++) {
            int j = k < ex->n_pos ? ex->pos[k] : ex->neg[k - ex->n_pos];
            const char *pid = d->passage_ids[j];
            if (!pid || !*pid)
                return lr_errorf(err, "%s: a %s given as text, without an id: distillation "
                                 "looks up the teacher's embeddings by id", place,
                                 k < ex->n_pos ? "positive" : "negative");
            if (!lr_teacher_passage(t, pid))
                return lr_errorf(err, "%s: passage id \"%s\" has no embedding in %s", place, pid,
                                 t->ppath);
        }
    }
    return 0;
}
