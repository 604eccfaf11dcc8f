/* bench-train-run - training throughput of a random SmolLM2-135M-shaped
 * model (hidden 576, 30 layers, 9 heads, 3 KV heads, intermediate 1536,
 * vocab 49152, tied embeddings): contrastive steps of 8 queries (16-32
 * tokens) with 4 passages each (64-128 tokens), forward, backward and
 * AdamW.  Usage: bench-train-run TOKENIZER [LORA_RANK [STEPS [CHUNK [THREADS [DTYPE]]]]]
 * (DTYPE f32, the default, or bf16: lr_tmodel_set_precision). */
#include "lr.h"
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench-train-run TOKENIZER [LORA_RANK [STEPS [CHUNK [THREADS [DTYPE]]]]]\n");
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
    char cfg[] = "/tmp/lr-bench-train.XXXXXX";
    int fd = mkstemp(cfg);
    const char *json =
        "{\"model_type\": \"llama\", \"hidden_size\": 576, \"intermediate_size\": 1536,"
        " \"num_hidden_layers\": 30, \"num_attention_heads\": 9, \"num_key_value_heads\": 3,"
        " \"max_position_embeddings\": 8192, \"rms_norm_eps\": 1e-05, \"rope_theta\": 100000.0,"
        " \"vocab_size\": 49152, \"tie_word_embeddings\": true, \"bos_token_id\": 1,"
        " \"eos_token_id\": 2}";
    if (fd < 0 || write(fd, json, strlen(json)) != (ssize_t)strlen(json)) return 1;
    close(fd);
    lr_error err = {{0}};
    lr_checkpoint *ck = lr_train_init_random(cfg, argv[1], 1, &err);
    unlink(cfg);
    if (!ck) {
        fprintf(stderr, "bench-train-run: %s\n", err.msg);
        return 1;
    }
    lr_tmodel *tm = lr_tmodel_new(ck, false, &err);
    if (!tm || lr_tmodel_set_precision(tm, dtype, &err) ||
        (rank && lr_tmodel_lora(tm, rank, 2.0 * rank, "all", 1, &err))) {
        fprintf(stderr, "bench-train-run: %s\n", err.msg);
        return 1;
    }
    lr_tmodel_release(tm, ck);   /* as lr_train does: the weights in memory once */
    lr_tmodel_set_chunk(tm, chunk);
    int np;
    lr_tparam *p = lr_tmodel_params(tm, &np);
    int64_t nparam = 0;
    for (int i = 0; i < np; i++) nparam += p[i].n;
    lr_adamw opt;
    lr_adamw_init(&opt);
    lr_rng rng;
    lr_rng_seed(&rng, 5);
    enum { NQ = 8, NP = 32, QL = 32, PL = 128 };
    int32_t *qi = malloc(sizeof(int32_t) * NQ * QL), *pi = malloc(sizeof(int32_t) * NP * PL);
    int ql[NQ], pl[NP], pos[NQ];
    double tokens = 0, secs = 0, flops = 0;
    for (int s = 0; s <= steps; s++) {
        int tq = 0, tp = 0;
        for (int i = 0; i < NQ; i++) {
            ql[i] = QL / 2 + (int)(lr_rng_next(&rng) % (QL / 2 + 1));
            for (int j = 0; j < ql[i]; j++) qi[tq++] = 3 + (int)(lr_rng_next(&rng) % 49000);
            pos[i] = 4 * i;
        }
        for (int i = 0; i < NP; i++) {
            pl[i] = PL / 2 + (int)(lr_rng_next(&rng) % (PL / 2 + 1));
            for (int j = 0; j < pl[i]; j++) pi[tp++] = 3 + (int)(lr_rng_next(&rng) % 49000);
        }
        lr_contrastive_batch b = {qi, ql, NQ, pi, pl, NP, pos, NULL};
        double t0 = lr_now();
        lr_grad_zero(p, np);
        double loss = lr_tmodel_contrastive(tm, &b, 0.02, 1, LR_POOL_LAST, true, 1.0, NULL, &err);
        lr_grad_clip(p, np, 1.0);
        lr_adamw_step(&opt, p, np, 1e-5);
        double dt = lr_now() - t0;
        int lens[NQ + NP];
        memcpy(lens, ql, sizeof ql);
        memcpy(lens + NQ, pl, sizeof pl);
        fprintf(stderr, "step %d: loss %.4f, %d tokens, %.2f s\n", s, loss, tq + tp, dt);
        if (s == 0) continue;   /* warm-up: first-touch of buffers */
        tokens += tq + tp;
        secs += dt;
        flops += lr_tmodel_flops(tm, lens, NQ + NP, false);
    }
    printf("%s %s (rank %d, %lld trainable parameters, chunk %d, %d threads, %s): "
           "%.1f tokens/s, %.1f GFLOP/s (forward+backward), %d steps\n",
           rank ? "LoRA" : "full", lr_precision_name(lr_tmodel_precision(tm)), rank, (long long)nparam,
           chunk, lr_threads(), lr_blas_arch(),
           tokens / secs, flops / secs * 1e-9, steps);
    free(qi);
    free(pi);
    lr_tmodel_free(tm);
    lr_checkpoint_free(ck);
    return 0;
}
