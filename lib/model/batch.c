/* batch.c - packed batches: the token ids of several sequences laid end to
 * end with their lengths, as lr_model_forward and the trainer take them,
 * and where a batch under a token budget ends. */
#include "config.h"
#include "internal.h"

void lr_batch_add(lr_batch *b, const int32_t *ids, int n)
{
    b->ids = lr_grow(b->ids, &b->cap_ids, b->n_tokens + (size_t)n, sizeof *b->ids);
    b->lens = lr_grow(b->lens, &b->cap_seq, (size_t)b->n_seq + 1, sizeof *b->lens);
    memcpy(b->ids + b->n_tokens, ids, (size_t)n * sizeof *ids);
    b->n_tokens += (size_t)n;
    b->lens[b->n_seq++] = n;
}

void lr_batch_clear(lr_batch *b)
{
    b->n_tokens = 0;
    b->n_seq = 0;
}

void lr_batch_free(lr_batch *b)
{
    if (!b) return;
    free(b->ids);
    free(b->lens);
    memset(b, 0, sizeof *b);
}

int lr_batch_span(const int *lens, int n, int s0, size_t budget, size_t *tokens)
{
    int s1 = s0;
    size_t t = 0;
    while (s1 < n && (s1 == s0 || t + (size_t)lens[s1] <= budget)) t += (size_t)lens[s1++];
    if (tokens) *tokens = t;
    return s1;
}
