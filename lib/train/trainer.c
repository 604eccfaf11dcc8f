/* trainer.c - the training loop of lr-train: batches, AdamW updates,
 * schedules, progress, checkpoints and the resumable training state. */
#include "config.h"
#include "internal.h"
#include "io/safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* options */

static const char *const obj_names[] = {"contrastive", "lm", "distill"};

int lr_objective_parse(const char *s, lr_objective *o)
{
    int i = lr_name_index(obj_names, LR_ARRAY_LEN(obj_names), s);
    if (i >= 0) *o = (lr_objective)i;
    return i < 0 ? -1 : 0;
}

const char *lr_objective_name(lr_objective o)
{
    return lr_name_at(obj_names, LR_ARRAY_LEN(obj_names), (unsigned)o);
}

void lr_train_opts_init(lr_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->objective = LR_OBJ_CONTRASTIVE;
    o->epochs = 1;
    o->lr = 2e-5;
    o->weight_decay = 0.01;
    o->clip = 1.0;
    o->tau = 0.02;
    o->tau_teacher = 0.02;
    o->batch = 8;
    o->negatives = 1;
    o->accum = 1;
    o->schedule = LR_SCHED_LINEAR;
    o->chunk = 4096;
    o->lora_targets = "all";
}

/* ------------------------------------------------------------------ */
/* training state: weights and AdamW moments of every trainable parameter */

static int state_save(const char *path, lr_tparam *p, int np, const lr_adamw *opt, int64_t step,
                      const lr_train_opts *o, lr_error *err)
{
    lr_st_entry *e = lr_xcalloc(3 * (size_t)np, sizeof *e);
    char **names = lr_xcalloc(3 * (size_t)np, sizeof *names);
    float *zero = NULL;
    int64_t maxn = 0;
    for (int i = 0; i < np; i++) maxn = LR_MAX(maxn, p[i].n);
    for (int i = 0; i < np; i++) {
        const char *sfx[3] = {"", "#exp_avg", "#exp_avg_sq"};
        const float *d[3] = {p[i].w, p[i].m, p[i].v};
        for (int k = 0; k < 3; k++) {
            size_t j = 3 * (size_t)i + k;
            size_t len = strlen(p[i].name) + 16;
            names[j] = lr_xmalloc(len);
            snprintf(names[j], len, "%s%s", p[i].name, sfx[k]);
            e[j].name = names[j];
            e[j].ndim = 1;
            e[j].shape[0] = p[i].n;
            if (!d[k]) d[k] = zero ? zero : (zero = lr_xcalloc((size_t)maxn, sizeof(float)));
            e[j].data = d[k];
        }
    }
    char buf[5][32];
    snprintf(buf[0], 32, "%lld", (long long)step);
    snprintf(buf[1], 32, "%lld", (long long)opt->step);
    snprintf(buf[2], 32, "%llu", (unsigned long long)o->seed);
    snprintf(buf[3], 32, "%d", o->lora_rank);
    snprintf(buf[4], 32, "%d", np);
    json_t *meta = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "format", "lr-train-state",
                             "step", buf[0], "adam_step", buf[1], "seed", buf[2], "objective",
                             lr_objective_name(o->objective), "lora_rank", buf[3], "params", buf[4]);
    lr_out *out = lr_out_open(path, err);
    int rc = out ? lr_st_write_f32(out->fp, e, 3 * (size_t)np, meta, path, err) : -1;
    if (out) {
        if (rc == 0)
            rc = lr_out_commit(out, err);
        else
            lr_out_abort(out);
    }
    json_decref(meta);
    for (size_t j = 0; j < 3 * (size_t)np; j++) free(names[j]);
    free(names);
    free(e);
    free(zero);
    return rc;
}

static int state_load(const char *path, lr_tparam *p, int np, lr_adamw *opt, int64_t *step,
                      const lr_train_opts *o, lr_error *err)
{
    size_t len;
    char *buf = lr_read_file(path, &len, err);
    if (!buf) return -1;
    int rc = 0;
    size_t at = 0;
    json_t *h = lr_st_header(buf, len, &at);
    if (!h) {
        rc = lr_errorf(err, "%s: not a training state (bad header)", path);
        goto out;
    }
    json_t *meta = json_object_get(h, "__metadata__");
    const char *fmt = json_string_value(json_object_get(meta, "format"));
    if (!fmt || strcmp(fmt, "lr-train-state")) {
        rc = lr_errorf(err, "%s: not a training state (format)", path);
        goto out;
    }
    const char *obj = json_string_value(json_object_get(meta, "objective"));
    const char *rank = json_string_value(json_object_get(meta, "lora_rank"));
    if (!obj || strcmp(obj, lr_objective_name(o->objective)) || !rank || atoi(rank) != o->lora_rank) {
        rc = lr_errorf(err, "%s: state of a %s run with LoRA rank %s; this run is %s with rank %d",
                       path, obj ? obj : "?", rank ? rank : "?", lr_objective_name(o->objective),
                       o->lora_rank);
        goto out;
    }
    const char *s = json_string_value(json_object_get(meta, "step"));
    const char *as = json_string_value(json_object_get(meta, "adam_step"));
    *step = s ? atoll(s) : 0;
    opt->step = as ? atoll(as) : 0;
    const char *pc = json_string_value(json_object_get(meta, "params"));
    if (!pc || atoi(pc) != np) {
        rc = lr_errorf(err, "%s: %s parameters, the model has %d", path, pc ? pc : "?", np);
        goto out;
    }
    for (int i = 0; i < np && rc == 0; i++) {
        const char *sfx[3] = {"", "#exp_avg", "#exp_avg_sq"};
        float **d[3] = {&p[i].w, &p[i].m, &p[i].v};
        for (int k = 0; k < 3 && rc == 0; k++) {
            char name[300];
            snprintf(name, sizeof name, "%s%s", p[i].name, sfx[k]);
            const void *data = lr_st_f32(h, buf, len, at, name, p[i].n);
            if (!data) {
                rc = lr_errorf(err, "%s: tensor %s missing or of the wrong size", path, name);
                break;
            }
            if (!*d[k]) *d[k] = lr_xmalloc((size_t)p[i].n * sizeof(float));
            memcpy(*d[k], data, (size_t)p[i].n * 4);
        }
    }
out:
    json_decref(h);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------ */
/* batches */

typedef struct tok_cache {
    lr_ids *ids;
    bool *done;
} tok_cache;

static const lr_ids *cached_ids(tok_cache *c, size_t i, const lr_tokenizer *tok, const lr_retrieval *r,
                                bool is_query, const char *text, lr_error *err)
{
    if (!c->done[i]) {
        if (lr_encode_text(tok, r, is_query, text, strlen(text), &c->ids[i], err)) {
            lr_error_prefix(err, "%s \"%.40s\"", is_query ? "query" : "passage", text);
            return NULL;
        }
        c->done[i] = true;
    }
    return &c->ids[i];
}

typedef struct batch {
    lr_ids q, p;
    int *ql, *pl, *pos;
    float *teacher;
    int nq, np;
    size_t cap_q, cap_p;
    int64_t tokens;
} batch;

static void push_seq(lr_ids *dst, int **lens, int *n, size_t *cap, const lr_ids *src)
{
    *lens = lr_grow(*lens, cap, (size_t)*n + 1, sizeof **lens);
    (*lens)[(*n)++] = (int)src->n;
    for (size_t i = 0; i < src->n; i++) lr_ids_push(dst, src->ids[i]);
}

typedef struct trainer {
    const lr_train_opts *o;
    const lr_train_data *data;
    const lr_lm_data *lm;
    const lr_teacher *teacher;
    const lr_tokenizer *tok;
    const lr_retrieval *r;
    tok_cache qc, pc;
    int *perm;
    int64_t perm_epoch;
    int64_t n_items, per_epoch;
} trainer;

static void epoch_perm(trainer *t, int64_t epoch)
{
    if (t->perm_epoch == epoch) return;
    for (int64_t i = 0; i < t->n_items; i++) t->perm[i] = (int)i;
    lr_rng rng;
    lr_rng_seed(&rng, t->o->seed * 0x9E3779B97F4A7C15ULL + (uint64_t)epoch + 1);
    lr_rng_shuffle(&rng, t->perm, (size_t)t->n_items);
    t->perm_epoch = epoch;
}

/* Micro-batch number mb: items perm[k*B .. (k+1)*B) of its epoch. */
static int build_contrastive(trainer *t, int64_t mb, batch *b, lr_error *err)
{
    const lr_train_opts *o = t->o;
    const lr_train_data *d = t->data;
    epoch_perm(t, mb / t->per_epoch);
    int64_t k = mb % t->per_epoch;
    int64_t i0 = k * o->batch, i1 = LR_MIN(t->n_items, i0 + o->batch);
    b->q.n = b->p.n = 0;
    b->nq = b->np = 0;
    b->tokens = 0;
    lr_rng rng;
    lr_rng_seed(&rng, o->seed ^ (0xC0FFEEULL + (uint64_t)mb * 0x9E3779B97F4A7C15ULL));
    int *pidx = NULL, npidx = 0;
    int *negs = NULL;
    size_t pidx_cap = 0, negs_cap = 0;
    b->pos = lr_xrealloc(b->pos, (size_t)(i1 - i0) * sizeof(int));
    for (int64_t i = i0; i < i1; i++) {
        const lr_train_example *ex = &d->ex[t->perm[i]];
        const lr_ids *q = cached_ids(&t->qc, (size_t)t->perm[i], t->tok, t->r, true, ex->query, err);
        if (!q) goto fail;
        push_seq(&b->q, &b->ql, &b->nq, &b->cap_q, q);
        int pos = ex->pos[lr_rng_next(&rng) % (uint64_t)ex->n_pos];
        int want = LR_MIN(o->negatives, ex->n_neg);
        negs = lr_grow(negs, &negs_cap, (size_t)ex->n_neg + 1, sizeof *negs);
        if (ex->n_neg) memcpy(negs, ex->neg, (size_t)ex->n_neg * sizeof(int));
        /* partial Fisher-Yates: `want` distinct negatives */
        for (int j = 0; j < want; j++) {
            int r = j + (int)(lr_rng_next(&rng) % (uint64_t)(ex->n_neg - j));
            int tmp = negs[j];
            negs[j] = negs[r];
            negs[r] = tmp;
        }
        pidx = lr_grow(pidx, &pidx_cap, (size_t)(npidx + 1 + want), sizeof *pidx);
        b->pos[b->nq - 1] = npidx;
        pidx[npidx++] = pos;
        for (int j = 0; j < want; j++) pidx[npidx++] = negs[j];
    }
    for (int j = 0; j < npidx; j++) {
        const lr_ids *p = cached_ids(&t->pc, (size_t)pidx[j], t->tok, t->r, false, d->passages[pidx[j]], err);
        if (!p) goto fail;
        push_seq(&b->p, &b->pl, &b->np, &b->cap_p, p);
    }
    b->tokens = (int64_t)(b->q.n + b->p.n);
    if (t->teacher) {
        int dim = lr_teacher_dim(t->teacher);
        b->teacher = lr_xrealloc(b->teacher, (size_t)b->nq * b->np * sizeof(float));
        for (int i = 0; i < b->nq; i++) {
            const lr_train_example *ex = &d->ex[t->perm[i0 + i]];
            const float *tq = lr_teacher_query(t->teacher, ex->qid);
            if (!tq) {
                lr_errorf(err, "teacher: no embedding for query id \"%s\"", ex->qid);
                goto fail;
            }
            for (int j = 0; j < b->np; j++) {
                const char *pid = d->passage_ids[pidx[j]];
                const float *tp = lr_teacher_passage(t->teacher, pid);
                if (!tp) {
                    lr_errorf(err, "teacher: no embedding for passage id \"%s\"", pid);
                    goto fail;
                }
                double s = 0;
                for (int c = 0; c < dim; c++) s += (double)tq[c] * tp[c];
                b->teacher[(size_t)i * b->np + j] = (float)s;
            }
        }
    }
    free(pidx);
    free(negs);
    return 0;
fail:
    free(pidx);
    free(negs);
    return -1;
}

static void build_lm(trainer *t, int64_t mb, batch *b)
{
    const lr_lm_data *lm = t->lm;
    epoch_perm(t, mb / t->per_epoch);
    int64_t k = mb % t->per_epoch;
    int64_t i0 = k * t->o->batch, i1 = LR_MIN(t->n_items, i0 + t->o->batch);
    b->q.n = 0;
    b->nq = 0;
    for (int64_t i = i0; i < i1; i++) {
        int64_t s = t->perm[i];
        lr_ids v = {lm->ids + lm->start[s], (size_t)(lm->start[s + 1] - lm->start[s]), 0};
        push_seq(&b->q, &b->ql, &b->nq, &b->cap_q, &v);
    }
    b->tokens = (int64_t)b->q.n;
}

/* ------------------------------------------------------------------ */
/* data-parallel agreement: every rank must train the same run */

static uint64_t digest_str(uint64_t h, const char *s) { return lr_digest(h, s, strlen(s) + 1); }

/* The data and every option that changes the numbers. */
static uint64_t run_digest(const trainer *t, int64_t total)
{
    const lr_train_opts *o = t->o;
    uint64_t h = 0;
    const double d[] = {o->lr, o->weight_decay, o->clip, o->tau, o->tau_teacher, o->epochs};
    const int64_t i[] = {o->objective, o->batch, o->negatives, o->accum, o->warmup, o->schedule,
                         (int64_t)o->seed, o->lora_rank, total};
    h = lr_digest(h, d, sizeof d);
    h = lr_digest(h, i, sizeof i);
    if (t->lm) {
        h = lr_digest(h, t->lm->ids, (size_t)t->lm->n_ids * sizeof *t->lm->ids);
        h = lr_digest(h, t->lm->start, (size_t)(t->lm->n_seq + 1) * sizeof *t->lm->start);
    }
    if (t->data) {
        for (size_t k = 0; k < t->data->n; k++) {
            const lr_train_example *ex = &t->data->ex[k];
            h = digest_str(digest_str(h, ex->qid), ex->query);
            h = lr_digest(h, ex->pos, (size_t)ex->n_pos * sizeof *ex->pos);
            h = lr_digest(h, ex->neg, (size_t)ex->n_neg * sizeof *ex->neg);
        }
        for (size_t k = 0; k < t->data->n_passages; k++) h = digest_str(h, t->data->passages[k]);
    }
    return h;
}

/* The trainable weights and optimizer state. */
static uint64_t model_digest(const lr_tparam *p, int np, const lr_adamw *opt, int64_t step)
{
    uint64_t h = lr_digest(0, &step, sizeof step);
    h = lr_digest(h, &opt->step, sizeof opt->step);
    for (int i = 0; i < np; i++) {
        h = digest_str(h, p[i].name);
        h = lr_digest(h, p[i].w, (size_t)p[i].n * sizeof *p[i].w);
        if (p[i].m) h = lr_digest(h, p[i].m, (size_t)p[i].n * sizeof *p[i].m);
        if (p[i].v) h = lr_digest(h, p[i].v, (size_t)p[i].n * sizeof *p[i].v);
    }
    return h;
}

/* One micro-batch of the lm objective on this rank's share of the global
 * batch b: the loss and gradient scaled as parts of the global mean. */
static double lm_share(lr_tmodel *tm, const batch *b, double scale, lr_error *err)
{
    int64_t s0, s1, n_all = 0, n_mine = 0;
    lr_dist_share(b->nq, &s0, &s1);
    size_t t0 = 0;
    for (int s = 0; s < b->nq; s++) {
        int pred = b->ql[s] > 1 ? b->ql[s] - 1 : 0;
        n_all += pred;
        if (s < s0) t0 += (size_t)b->ql[s];
        else if (s < s1) n_mine += pred;
    }
    double l = 0;
    if (n_all == 0) {
        lr_errorf(err, "lm objective: no sequence of two tokens or more");
        return NAN;
    }
    if (n_mine > 0) {
        double part = (double)n_mine / (double)n_all;
        l = lr_tmodel_lm(tm, b->q.ids + t0, b->ql + s0, (int)(s1 - s0), scale * part, NULL, err) * part;
    }
    if (lr_dist_check(err->msg[0] ? -1 : 0, err)) return NAN;
    lr_dist_sum_double(&l, 1);
    return l;
}

/* ------------------------------------------------------------------ */
/* the loop */

static int save_model(lr_tmodel *tm, lr_checkpoint *ck, const lr_retrieval *r, const char *path,
                      lr_error *err)
{
    if (lr_tmodel_store(tm, ck, err)) return -1;
    lr_retrieval_to_checkpoint(ck, r);
    return lr_checkpoint_save(ck, path, err);
}

int lr_train(lr_checkpoint *ck, const lr_tokenizer *tok, const lr_retrieval *r,
             const lr_train_opts *o, const lr_train_data *data, const lr_lm_data *lm,
             const lr_teacher *teacher, lr_error *err)
{
    const bool is_lm = o->objective == LR_OBJ_LM;
    if (!(o->lr > 0) || !isfinite(o->lr)) return lr_errorf(err, "learning rate %g: must be positive", o->lr);
    if (o->batch < 1 || o->accum < 1) return lr_errorf(err, "batch and accumulation must be at least 1");
    if (is_lm ? !lm : !data) return lr_errorf(err, "no training data for the %s objective", lr_objective_name(o->objective));
    if (o->objective == LR_OBJ_DISTILL && !teacher) return lr_errorf(err, "distill: no teacher embeddings");
    bool to_file = o->output && strcmp(o->output, "-");
    if (o->save_every > 0 && !to_file) return lr_errorf(err, "saving every %lld steps needs an output file", (long long)o->save_every);

    trainer t = {0};
    t.o = o, t.data = data, t.lm = lm, t.teacher = teacher, t.tok = tok, t.r = r;
    t.n_items = is_lm ? lm->n_seq : (int64_t)data->n;
    t.per_epoch = (t.n_items + o->batch - 1) / o->batch;
    t.perm = lr_xmalloc((size_t)t.n_items * sizeof(int));
    t.perm_epoch = -1;
    if (!is_lm) {
        t.qc.ids = lr_xcalloc(data->n, sizeof(lr_ids));
        t.qc.done = lr_xcalloc(data->n, sizeof(bool));
        t.pc.ids = lr_xcalloc(data->n_passages, sizeof(lr_ids));
        t.pc.done = lr_xcalloc(data->n_passages, sizeof(bool));
    }
    int64_t total = o->steps > 0 ? o->steps : (int64_t)ceil(o->epochs * t.per_epoch / o->accum);
    if (total < 1) total = 1;

    int rc = -1;
    batch b = {0};
    lr_progress *prog = NULL;
    char state_path[4200] = "";
    lr_tmodel *tm = lr_tmodel_new(ck, is_lm, err);
    if (lr_dist_check(tm ? 0 : -1, err)) goto out;
    lr_tmodel_set_chunk(tm, o->chunk);
    if (lr_dist_check(lr_tmodel_set_precision(tm, o->dtype, err), err)) goto out;
    if (lr_dist_check(o->lora_rank > 0 &&
                      lr_tmodel_lora(tm, o->lora_rank, o->lora_alpha > 0 ? o->lora_alpha : 2.0 * o->lora_rank,
                                     o->lora_targets, o->seed, err), err))
        goto out;
    int np;
    lr_tparam *p = lr_tmodel_params(tm, &np);
    lr_adamw opt;
    lr_adamw_init(&opt);
    opt.weight_decay = o->weight_decay;
    int64_t step = 0, last_saved = -1;
    if (o->resume) {
        int rs = state_load(o->resume, p, np, &opt, &step, o, err);
        if (rs == 0 && step > total)
            rs = lr_errorf(err, "%s: state at step %lld, beyond the %lld steps of this run", o->resume,
                           (long long)step, (long long)total);
        if (lr_dist_check(rs, err)) goto out;
    }
    /* under MPI every rank loads the model and the data itself: they must agree */
    if (lr_dist_agree(run_digest(&t, total), "training data or options", err) ||
        lr_dist_agree(model_digest(p, np, &opt, step), "model (weights or training state)", err))
        goto out;
    const int ranks = lr_dist_size();
    const bool rank0 = lr_dist_rank() == 0;
    if (to_file) snprintf(state_path, sizeof state_path, "%s.state", o->output);
    lr_checkpoint_add_history(ck, o->argc, o->argv);
    lr_tmodel_release(tm, ck);   /* the model holds the weights until a save */

    const int64_t start = step;
    char what[64];
    snprintf(what, sizeof what, ranks > 1 ? "lr-train, %d ranks" : "lr-train", ranks);
    prog = lr_progress_new(what, total - step, o->quiet || !rank0);
    double ema = NAN;
    for (; step < total; step++) {
        lr_grad_zero(p, np);
        double loss = 0;
        int64_t tokens = 0;
        for (int a = 0; a < o->accum; a++) {
            int64_t mb = step * o->accum + a;
            double l;
            lr_error e2 = {{0}};
            if (is_lm) {
                build_lm(&t, mb, &b);
                l = ranks > 1 ? lm_share(tm, &b, 1.0 / o->accum, &e2)
                              : lr_tmodel_lm(tm, b.q.ids, b.ql, b.nq, 1.0 / o->accum, NULL, &e2);
            } else {
                /* every rank builds the whole global batch; the model takes its share */
                if (lr_dist_check(build_contrastive(&t, mb, &b, err), err)) goto out;
                lr_contrastive_batch cb = {b.q.ids, b.ql, b.nq, b.p.ids, b.pl, b.np, b.pos,
                                           o->objective == LR_OBJ_DISTILL ? b.teacher : NULL};
                l = lr_tmodel_contrastive(tm, &cb, o->tau, o->tau_teacher, r->pooling, r->normalize,
                                          1.0 / o->accum, NULL, &e2);
            }
            if (lr_dist_check(e2.msg[0] ? -1 : 0, &e2)) {
                /* an input error (bad id, bad length), not a diverged loss */
                lr_errorf(err, "step %lld: %s", (long long)step + 1, e2.msg);
                goto out;
            }
            loss += l / o->accum;
            tokens += b.tokens;
        }
        if (ranks > 1)
            for (int i = 0; i < np; i++) lr_dist_sum_float(p[i].g, (size_t)p[i].n);
        double gnorm = o->clip > 0 ? lr_grad_clip(p, np, o->clip) : lr_grad_norm(p, np);
        if (!isfinite(loss) || !isfinite(gnorm)) {
            if (last_saved >= 0)
                lr_errorf(err, "step %lld: loss is %s; stopped (last good checkpoint: %s, step %lld)",
                          (long long)step + 1, isfinite(loss) ? "finite but the gradient is not" : "NaN",
                          o->output, (long long)last_saved);
            else
                lr_errorf(err, "step %lld: loss is %s; stopped, nothing written", (long long)step + 1,
                          isfinite(loss) ? "finite but the gradient is not" : "NaN");
            lr_dist_check(-1, err);   /* every rank sees the same loss: one message */
            goto out;
        }
        /* weights after `step` updates gave a finite loss: a good checkpoint */
        if (o->save_every > 0 && step > start && step % o->save_every == 0) {
            int rs = rank0 ? save_model(tm, ck, r, o->output, err) ||
                                 state_save(state_path, p, np, &opt, step, o, err) : 0;
            if (lr_dist_check(rs ? -1 : 0, err)) goto out;
            if (rank0) lr_tmodel_release(tm, ck);
            last_saved = step;
        }
        double lr_now_ = lr_schedule_lr(o->schedule, o->lr, step, o->warmup, total);
        lr_adamw_step(&opt, p, np, lr_now_);
        ema = isnan(ema) ? loss : 0.9 * ema + 0.1 * loss;
        lr_progress_note(prog, "loss %.4f (avg %.4f) lr %.2e", loss, ema, lr_now_);
        lr_progress_add(prog, 1, tokens);
        if (o->log && rank0) {
            fprintf(o->log, "%lld\t%.6f\t%.6e\t%.4f\t%lld\n", (long long)step + 1, loss, lr_now_,
                    gnorm, (long long)tokens);
            fflush(o->log);
        }
    }
    if (lr_dist_check(rank0 && save_model(tm, ck, r, o->output, err) ? -1 : 0, err)) goto out;
    rc = 0;
out:
    if (prog) lr_progress_done(prog);
    lr_tmodel_free(tm);
    if (!is_lm) {
        for (size_t i = 0; i < data->n; i++) free(t.qc.ids[i].ids);
        for (size_t i = 0; i < data->n_passages; i++) free(t.pc.ids[i].ids);
        free(t.qc.ids), free(t.qc.done), free(t.pc.ids), free(t.pc.done);
    }
    free(t.perm);
    free(b.q.ids), free(b.p.ids), free(b.ql), free(b.pl), free(b.pos), free(b.teacher);
    return rc;
}
