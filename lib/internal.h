/* internal.h - shared private helpers of liblr (not installed). */
#ifndef LR_INTERNAL_H
#define LR_INTERNAL_H
#include "lr.h"
#include <stdlib.h>
#include <string.h>

/* Allocation that cannot fail quietly: out of memory is fatal. */
void *lr_xmalloc(size_t n);
void *lr_xcalloc(size_t n, size_t size);
void *lr_xrealloc(void *p, size_t n);
char *lr_xstrdup(const char *s);

#define LR_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The parser and printer behind every named enum (pooling, schedule,
 * objective, channel metric): the index of s in names[0..n) or -1, and
 * names[i] or "?" when out of range. */
int lr_name_index(const char *const *names, size_t n, const char *s);
const char *lr_name_at(const char *const *names, size_t n, unsigned i);
/* The full-width indices of layer l's current MLP channels (lr.json
 * kept_channels; *out NULL at full width); -1 when they are unknown. */
int lr_kept_channels(lr_checkpoint *ck, int l, int **out, lr_error *err);
/* Worker pool (kernels/workers.c): run fn(ctx, 0 .. ntasks-1) on lr_threads()
 * threads, the caller among them; returns when every task has run.  Tasks
 * go to whichever thread is free.  Called from inside a task, or while
 * another thread's job runs, it runs the tasks serially. */
void lr_par_for(int ntasks, void (*fn)(void *ctx, int task), void *ctx);
/* Cut an m x n output into about four blocks per thread, sides multiples
 * of align_m and align_n and (where the size allows) at least min_block:
 * block sizes in *bm, *bn; returns the number of blocks. */
int lr_par_grid(int m, int n, int align_m, int align_n, int min_block, int *bm, int *bn);
/* lr_sgemm on the calling thread alone (for products inside a task). */
void lr_sgemm1(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float *a,
               int lda, const float *b, int ldb, float beta, float *c, int ldc);
/* String -> int map (keys copied); get returns -1 when absent, put
 * replaces the value of a key already there. */
typedef struct lr_strmap {
    char **keys;
    int *vals;
    size_t cap, n;
} lr_strmap;
int lr_strmap_get(const lr_strmap *m, const char *k);
void lr_strmap_put(lr_strmap *m, const char *k, int v);
void lr_strmap_free(lr_strmap *m);

#define LR_MIN(a, b) ((a) < (b) ? (a) : (b))
#define LR_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Row kernels are compiled for AVX-512, AVX2 and the baseline and picked
 * at load time (the library itself targets x86-64-v2). */
/* (not with clang: clang 14 emits no symbol for a cloned function that
 * another file calls) */
#if defined(__x86_64__) && !defined(LR_NO_CLONES) && !defined(__clang__)
#define LR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LR_CLONES
#endif

#endif
