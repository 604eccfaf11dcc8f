/* encoder.c - texts in, embeddings out: a model with its retrieval
 * settings, tokenising texts, packing them by length into forward passes
 * and pooling, in input order. */
#include "config.h"
#include "internal.h"

struct lr_encoder {
    lr_checkpoint *ck;
    bool own_ck;
    lr_tokenizer *tok;
    lr_model *m;       /* made on first use: tokenising needs no weights */
    lr_retrieval r;
    int batch_tokens;
    lr_progress *prog;
    lr_batch batch;
    float *hidden, *pooled;
    size_t hidden_cap, pooled_cap;
    lr_encoder_stats stats;
};

lr_encoder *lr_encoder_new(lr_checkpoint *ck, const lr_retrieval_set *set, lr_error *err)
{
    lr_encoder *e = lr_xcalloc(1, sizeof *e);
    e->ck = ck;
    e->batch_tokens = 4096;
    if (!(e->tok = lr_tokenizer_from_checkpoint(ck, err))) goto fail;
    if (lr_retrieval_from_checkpoint(ck, &e->r, err)) goto fail;
    lr_retrieval_override(&e->r, set);
    return e;
fail:
    lr_tokenizer_free(e->tok);
    free(e);
    return NULL;
}

lr_encoder *lr_encoder_open(const char *model, const lr_retrieval_set *set, lr_error *err)
{
    lr_checkpoint *ck = lr_checkpoint_load(model, err);
    if (!ck) return NULL;
    lr_encoder *e = lr_encoder_new(ck, set, err);
    if (!e) {
        lr_checkpoint_free(ck);
        return NULL;
    }
    e->own_ck = true;
    return e;
}

void lr_encoder_free(lr_encoder *e)
{
    if (!e) return;
    lr_model_free(e->m);
    lr_tokenizer_free(e->tok);
    lr_retrieval_free(&e->r);
    lr_batch_free(&e->batch);
    free(e->hidden);
    free(e->pooled);
    if (e->own_ck) lr_checkpoint_free(e->ck);
    free(e);
}

static int need_model(lr_encoder *e, lr_error *err)
{
    if (!e->m && !(e->m = lr_model_new(e->ck, err))) return -1;
    return 0;
}

int lr_encoder_set_precision(lr_encoder *e, lr_precision p, lr_error *err)
{
    if (need_model(e, err)) return -1;
    return lr_model_set_precision(e->m, p, err);
}

lr_precision lr_encoder_precision(const lr_encoder *e)
{
    return e->m ? lr_model_precision(e->m) : LR_PREC_F32;
}

void lr_encoder_set_batch_tokens(lr_encoder *e, int n) { e->batch_tokens = n > 0 ? n : 1; }
void lr_encoder_set_progress(lr_encoder *e, lr_progress *p) { e->prog = p; }
int lr_encoder_dim(const lr_encoder *e) { return e->ck->cfg.hidden; }
const lr_retrieval *lr_encoder_retrieval(const lr_encoder *e) { return &e->r; }
lr_checkpoint *lr_encoder_checkpoint(const lr_encoder *e) { return e->ck; }
const lr_tokenizer *lr_encoder_tokenizer(const lr_encoder *e) { return e->tok; }
lr_encoder_stats lr_encoder_get_stats(const lr_encoder *e) { return e->stats; }

typedef struct tokenize_job {
    const lr_encoder *e;
    bool is_query;
    const char *const *texts;
    const size_t *lens;
    int n;
    lr_ids *ids;
    int *failed;
    lr_error *errs;
} tokenize_job;

enum { TEXTS_PER_TASK = 4 };

static void tokenize_task(void *ctx, int task)
{
    const tokenize_job *j = ctx;
    for (int i = task * TEXTS_PER_TASK; i < LR_MIN(j->n, (task + 1) * TEXTS_PER_TASK); i++) {
        size_t len = j->lens ? j->lens[i] : strlen(j->texts[i]);
        j->failed[i] = lr_encode_text(j->e->tok, &j->e->r, j->is_query, j->texts[i], len,
                                      &j->ids[i], &j->errs[i]);
    }
}

int lr_encoder_tokenize(const lr_encoder *e, bool is_query, const char *const *texts,
                        const size_t *lens, int n, lr_ids *ids, int *bad, lr_error *err)
{
    int *failed = lr_xcalloc((size_t)n + 1, sizeof *failed);
    lr_error *errs = lr_xcalloc((size_t)n + 1, sizeof *errs);
    tokenize_job j = {e, is_query, texts, lens, n, ids, failed, errs};
    lr_par_for((n + TEXTS_PER_TASK - 1) / TEXTS_PER_TASK, tokenize_task, &j);
    int rc = 0;
    for (int i = 0; i < n; i++)
        if (failed[i]) {
            if (bad) *bad = i;
            if (err) *err = errs[i];
            rc = -1;
            break;
        }
    free(failed);
    free(errs);
    return rc;
}

typedef struct by_len { size_t n; int i; } by_len;
static int cmp_len_desc(const void *a, const void *b)
{
    const by_len *x = a, *y = b;
    if (x->n != y->n) return x->n < y->n ? 1 : -1;
    return x->i - y->i;
}

int lr_encoder_embed(lr_encoder *e, const lr_ids *seqs, int n, float *out, lr_error *err)
{
    if (n <= 0) return 0;
    if (need_model(e, err)) return -1;
    const int H = e->ck->cfg.hidden;
    /* longest first, so that a batch holds texts of similar length */
    by_len *order = lr_xmalloc((size_t)n * sizeof *order);
    int *lens = lr_xmalloc((size_t)n * sizeof *lens);
    for (int i = 0; i < n; i++) order[i] = (by_len){seqs[i].n, i};
    qsort(order, (size_t)n, sizeof *order, cmp_len_desc);
    for (int j = 0; j < n; j++) lens[j] = (int)order[j].n;
    int rc = 0;
    for (int b0 = 0; b0 < n;) {
        size_t T;
        int b1 = lr_batch_span(lens, n, b0, (size_t)e->batch_tokens, &T);
        lr_batch_clear(&e->batch);
        for (int j = b0; j < b1; j++) lr_batch_add(&e->batch, seqs[order[j].i].ids, lens[j]);
        if (T * H > e->hidden_cap) {
            e->hidden_cap = T * H;
            free(e->hidden);
            e->hidden = lr_xmalloc(e->hidden_cap * sizeof(float));
        }
        if ((size_t)(b1 - b0) * H > e->pooled_cap) {
            e->pooled_cap = (size_t)(b1 - b0) * H;
            free(e->pooled);
            e->pooled = lr_xmalloc(e->pooled_cap * sizeof(float));
        }
        double t0 = lr_now();
        if (lr_model_forward(e->m, e->batch.ids, e->batch.lens, b1 - b0, e->hidden, NULL, err)) {
            rc = -1;
            break;
        }
        e->stats.forward_seconds += lr_now() - t0;
        lr_pool(e->hidden, e->batch.lens, b1 - b0, H, e->r.pooling, e->r.normalize, e->pooled);
        for (int j = b0; j < b1; j++)
            memcpy(out + (size_t)order[j].i * H, e->pooled + (size_t)(j - b0) * H, H * sizeof(float));
        e->stats.flops += lr_model_flops(e->m, e->batch.lens, b1 - b0);
        e->stats.texts += b1 - b0;
        e->stats.tokens += (int64_t)T;
        lr_progress_add(e->prog, b1 - b0, (int64_t)T);
        b0 = b1;
    }
    free(order);
    free(lens);
    return rc;
}

int lr_encoder_encode(lr_encoder *e, bool is_query, const char *const *texts, int n, float *out,
                      lr_error *err)
{
    if (n <= 0) return 0;
    lr_ids *ids = lr_xcalloc((size_t)n, sizeof *ids);
    int bad = 0, rc;
    lr_error e1 = {{0}};
    if ((rc = lr_encoder_tokenize(e, is_query, texts, NULL, n, ids, &bad, &e1)) < 0)
        lr_errorf(err, "text %d: %s", bad + 1, e1.msg);
    else
        rc = lr_encoder_embed(e, ids, n, out, err);
    for (int i = 0; i < n; i++) free(ids[i].ids);
    free(ids);
    return rc;
}
