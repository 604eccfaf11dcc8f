/* bench-train-run - training throughput of a random model of a real shape:
 * contrastive steps of 8 queries (16-32 tokens) with 4 passages each
 * (64-128 tokens), forward, backward, clipping and AdamW.  After the timed
 * steps the same batches are drawn again and timed through the forward
 * alone, so that a step reads against the forward it contains.
 * Usage: bench-train-run TOKENIZER [LORA_RANK [STEPS [CHUNK [THREADS [DTYPE [SHAPE]]]]]]
 * DTYPE: f32 (the default) or bf16 (lr_tmodel_set_precision).  SHAPE:
 * 135m (the default; SmolLM2-135M: hidden 576, 30 layers, 9 heads, 3 KV
 * heads, intermediate 1536, vocab 49152, tied embeddings) or 0.5b
 * (Qwen2.5-0.5B: hidden 896, 24 layers, 14 heads, 2 KV heads,
 * intermediate 4864, vocab 151936, tied embeddings, q/k/v biases). */
#include "lr.h"
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const char *const shapes[][2] = {
    {"135m",
     "{\"model_type\": \"llama\", \"hidden_size\": 576, \"intermediate_size\": 1536,"
     " \"num_hidden_layers\": 30, \"num_attention_heads\": 9, \"num_key_value_heads\": 3,"
     " \"max_position_embeddings\": 8192, \"rms_norm_eps\": 1e-05, \"rope_theta\": 100000.0,"
     " \"vocab_size\": 49152, \"tie_word_embeddings\": true, \"bos_token_id\": 1,"
     " \"eos_token_id\": 2}"},
    {"0.5b",
     "{\"model_type\": \"qwen2\", \"hidden_size\": 896, \"intermediate_size\": 4864,"
     " \"num_hidden_layers\": 24, \"num_attention_heads\": 14, \"num_key_value_heads\": 2,"
     " \"max_position_embeddings\": 32768, \"rms_norm_eps\": 1e-06, \"rope_theta\": 1000000.0,"
     " \"vocab_size\": 151936, \"tie_word_embeddings\": true, \"bos_token_id\": 1,"
     " \"eos_token_id\": 2}"},
};

enum { NQ = 8, NP = 32, QL = 32, PL = 128, ID_RANGE = 49000 };

/* One contrastive batch of random ids: query i's positive is passage 4i.
 * Queries then passages, packed in ids and lens, so that the forward
 * alone embeds the whole batch in one call, as the step does. */
typedef struct {
    int32_t ids[NQ * QL + NP * PL], *pi;
    int lens[NQ + NP], pos[NQ], tokens;
} batch;

static void next_batch(lr_rng *rng, batch *b)
{
    int t = 0;
    for (int i = 0; i < NQ + NP; i++) {
        const int max = i < NQ ? QL : PL;
        if (i == NQ) b->pi = b->ids + t;
        b->lens[i] = max / 2 + (int)(lr_rng_next(rng) % (max / 2 + 1));
        for (int j = 0; j < b->lens[i]; j++) b->ids[t++] = 3 + (int)(lr_rng_next(rng) % ID_RANGE);
    }
    for (int i = 0; i < NQ; i++) b->pos[i] = 4 * i;
    b->tokens = t;
}

static int die(const char *msg)
{
    fprintf(stderr, "bench-train-run: %s\n", msg);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench-train-run TOKENIZER [LORA_RANK [STEPS [CHUNK [THREADS [DTYPE [SHAPE]]]]]]\n");
        return 2;
    }
    int rank = argc > 2 ? atoi(argv[2]) : 0, steps = argc > 3 ? atoi(argv[3]) : 2;
    int chunk = argc > 4 ? atoi(argv[4]) : 4096;
    lr_threads_init(argc > 5 ? atoi(argv[5]) : 0);
    lr_precision dtype = LR_PREC_F32;
    if (argc > 6 && lr_precision_parse(argv[6], &dtype)) {
        fprintf(stderr, "bench-train-run: unknown dtype %s\n", argv[6]);
        return 2;
    }
    const char *shape = argc > 7 ? argv[7] : "135m", *json = NULL;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (!strcmp(shape, shapes[i][0])) json = shapes[i][1];
    if (!json) {
        fprintf(stderr, "bench-train-run: unknown shape %s (135m or 0.5b)\n", shape);
        return 2;
    }
    char cfg[] = "/tmp/lr-bench-train.XXXXXX";
    int fd = mkstemp(cfg);
    if (fd < 0 || write(fd, json, strlen(json)) != (ssize_t)strlen(json)) return die("cannot write the config");
    close(fd);
    lr_error err = {{0}};
    lr_checkpoint *ck = lr_train_init_random(cfg, argv[1], 1, &err);
    unlink(cfg);
    if (!ck) return die(err.msg);
    lr_tmodel *tm = lr_tmodel_new(ck, false, &err);
    if (!tm || lr_tmodel_set_precision(tm, dtype, &err) ||
        (rank && lr_tmodel_lora(tm, rank, 2.0 * rank, "all", 1, &err)))
        return die(err.msg);
    lr_tmodel_release(tm, ck);   /* as lr_train does: the weights in memory once */
    lr_tmodel_set_chunk(tm, chunk);
    int np;
    lr_tparam *p = lr_tmodel_params(tm, &np);
    int64_t nparam = 0;
    for (int i = 0; i < np; i++) nparam += p[i].n;
    lr_adamw opt;
    lr_adamw_init(&opt);
    batch *b = malloc(sizeof *b);
    if (!b) return die("out of memory");
    lr_rng rng;
    lr_rng_seed(&rng, 5);
    double tokens = 0, secs = 0, flops = 0, update = 0;
    for (int s = 0; s <= steps; s++) {
        next_batch(&rng, b);
        lr_contrastive_batch cb = {b->ids, b->lens, NQ, b->pi, b->lens + NQ, NP, b->pos, NULL};
        double t0 = lr_now();
        lr_grad_zero(p, np);
        double loss = lr_tmodel_contrastive(tm, &cb, 0.02, 1, LR_POOL_LAST, true, 1.0, NULL, &err);
        if (isnan(loss)) return die(err.msg);
        double t1 = lr_now();
        lr_grad_clip(p, np, 1.0);
        lr_adamw_step(&opt, p, np, 1e-5);
        double t2 = lr_now();
        fprintf(stderr, "step %d: loss %.4f, %d tokens, %.2f s\n", s, loss, b->tokens, t2 - t0);
        if (s == 0) continue;   /* warm-up: first-touch of buffers */
        tokens += b->tokens;
        secs += t2 - t0;
        update += t2 - t1;
        flops += lr_tmodel_flops(tm, b->lens, NQ + NP, false);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    /* the same batches through the forward alone (warm-up batch untimed) */
    float *emb = malloc(sizeof(float) * (NQ + NP) * ck->cfg.hidden);
    if (!emb) return die("out of memory");
    lr_rng_seed(&rng, 5);
    double fwd = 0;
    for (int s = 0; s <= steps; s++) {
        next_batch(&rng, b);
        double t0 = lr_now();
        if (lr_tmodel_embed(tm, b->ids, b->lens, NQ + NP, LR_POOL_LAST, emb, &err)) return die(err.msg);
        if (s) fwd += lr_now() - t0;
    }
    printf("%s %s (%s shape, rank %d, %lld trainable parameters, chunk %d, %d threads, %s): "
           "%.1f tokens/s, %.1f GFLOP/s (forward+backward), %d steps\n",
           rank ? "LoRA" : "full", lr_precision_name(lr_tmodel_precision(tm)), shape, rank,
           (long long)nparam, chunk, lr_threads(), lr_blas_arch(),
           tokens / secs, flops / secs * 1e-9, steps);
    printf("  per step: %.2f s, of which clip and AdamW %.2f s; the forward alone %.2f s "
           "(step / forward: x%.2f); peak RSS of the steps %ld KB\n",
           secs / steps, update / steps, fwd / steps, secs / fwd, ru.ru_maxrss);
    free(emb);
    free(b);
    lr_tmodel_free(tm);
    lr_checkpoint_free(ck);
    return 0;
}
