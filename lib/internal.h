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
/* Drop tensor name's data, keeping its name, dtype and shape (a trainer
 * holds its own copy of the weights and sets them back with
 * lr_checkpoint_set_tensor before writing); a weight file that no tensor
 * points into any more is freed.  Until then neither the digest nor a
 * write may be asked for. */
void lr_checkpoint_drop_data(lr_checkpoint *ck, const char *name);
/* Between saves a trainer needs no second copy of the weights: drop ck's
 * (lr_tmodel_store sets them again). */
void lr_tmodel_release(lr_tmodel *m, lr_checkpoint *ck);
/* Worker pool (kernels/workers.c): run fn(ctx, 0 .. ntasks-1) on lr_threads()
 * threads, the caller among them; returns when every task has run.  Tasks
 * go to whichever thread is free.  Called from inside a task, or while
 * another thread's job runs, it runs the tasks serially; so it does for a
 * spell when the pool has lately been slower than the caller alone. */
void lr_par_for(int ntasks, void (*fn)(void *ctx, int task), void *ctx);
/* Below this many elements of work, a loop runs on the calling thread:
 * waking the workers costs more than they save, most on a shared core. */
#define LR_PAR_MIN 32768
/* Every loop and job on the pool, however small, and never a spell alone
 * (see workers.c): for tests of the parallel paths. */
void lr_par_force(bool on);
/* Whether a job now would run on the caller alone (one thread, inside a
 * task, or a spell alone): then a product is better one block than many. */
bool lr_par_alone(void);
/* lr_par_for when work (elements touched in all) reaches LR_PAR_MIN,
 * else the tasks in order on the calling thread. */
void lr_par_tasks(int ntasks, double work, void (*fn)(void *ctx, int task), void *ctx);
/* fn(ctx, lo, hi) over consecutive chunks of [0, n), about four per
 * thread, on the pool; one call fn(ctx, 0, n) when work (elements touched
 * in all) is below LR_PAR_MIN or the caller is alone (lr_par_alone). */
void lr_par_range(long n, double work, void (*fn)(void *ctx, long lo, long hi), void *ctx);
/* A reduction cut by n alone, so that the thread count does not change
 * the result: the sum of fn(ctx, lo, hi) over LR_PAR_PARTS (or n, if
 * fewer) chunks of [0, n), added in order.  Vector reductions use the same
 * parts, each with its own partial sums. */
#define LR_PAR_PARTS 16
double lr_par_sum(long n, double work, double (*fn)(void *ctx, long lo, long hi), void *ctx);
/* Cut an m x n output into about four blocks per thread, sides multiples
 * of align_m and align_n and (where the size allows) at least min_block:
 * block sizes in *bm, *bn; returns the number of blocks. */
int lr_par_grid(int m, int n, int align_m, int align_n, int min_block, int *bm, int *bn);
/* lr_sgemm on the calling thread alone (for products inside a task). */
void lr_sgemm1(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float *a,
               int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* Products with a thin side (kernels/thin.c): thin matrices are row-major,
 * LR_THIN_W-padded to rp columns, the padding zero.
 * lr_thin_mm: out [T x rp] = X [T x n, leading dim ldx] M [n x rp].
 * lr_thin_tmm: G [n x rp] += X^T Y, X [T x n] (ldx), Y [T x rp]. */
#define LR_THIN_W 16
void lr_thin_mm(int T, int n, const float *x, int ldx, const float *m, int rp, float *out);
void lr_thin_tmm(int T, int n, const float *x, int ldx, const float *y, int rp, float *g);
/* Tests: the portable kernels even where AVX-512 runs. */
void lr_thin_portable(bool on);

/* UTF-8 (util/utf8.c).  lr_utf8_check: the length of the well-formed
 * sequence at s (at most n bytes), or minus the length of its maximal
 * invalid subpart (at least 1), the unit a U+FFFD replaces.
 * lr_utf8_valid_len: that length, or 0 when invalid.  lr_utf8_valid:
 * whether all of s[0..n) is well-formed. */
long lr_utf8_check(const unsigned char *s, size_t n);
size_t lr_utf8_valid_len(const unsigned char *s, size_t n);
bool lr_utf8_valid(const char *s, size_t n);

/* The hash map (util/map.c): open addressing with linear probing over a
 * power-of-two table of (key, value) slots, at most half full; a zeroed
 * lr_map is empty and grows as keys arrive (lr_map_init sizes a zeroed
 * or freed map for n_expected keys at once).  Keys are either
 * - 64-bit integers (never LR_MAP_EMPTY): lr_map_put, lr_map_get; or
 * - byte strings the caller holds in key[i] / key_len[i], i a 32-bit
 *   index: the slot keeps the string's hash and i (lr_map_put_bytes,
 *   lr_map_get_bytes), and the caller points m->key and m->key_len at its
 *   arrays before each call.
 * The lookups are inline: the tokenizer's merge loop lives on them. */
#define LR_MAP_EMPTY UINT64_MAX
/* A slot holds its key's complement, so that a zeroed table (calloc's,
 * whose pages the kernel maps lazily) is an empty one. */
typedef struct lr_map_slot {
    uint64_t not_key, val;
} lr_map_slot;
typedef struct lr_map {
    lr_map_slot *slot;
    size_t mask, n;
    const char *const *key;    /* byte keys: key i is key[i][0 .. key_len[i]) */
    const uint32_t *key_len;
} lr_map;
void lr_map_init(lr_map *m, size_t n_expected);
void lr_map_free(lr_map *m);
/* Insert key -> val; returns 1, changing nothing, when key is there. */
int lr_map_put(lr_map *m, uint64_t key, uint64_t val);
/* Insert key k (its bytes key[k]); returns -1, or the index of an equal
 * key already there (which stays). */
int64_t lr_map_put_bytes(lr_map *m, uint32_t k);

static inline size_t lr_map_index(uint64_t key, size_t mask)
{
    uint64_t h = key * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 32 ^ h) & mask;
}

/* The slot of key, or NULL. */
static inline const lr_map_slot *lr_map_get(const lr_map *m, uint64_t key)
{
    if (!m->slot) return NULL;
    for (size_t i = lr_map_index(key, m->mask);; i = (i + 1) & m->mask) {
        const lr_map_slot *s = &m->slot[i];
        if (s->not_key == ~key) return s;
        if (s->not_key == 0) return NULL;
    }
}

/* The hash of a byte string keys are stored under (never LR_MAP_EMPTY). */
static inline uint64_t lr_hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0x100000001B3ULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 29;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 32;
    return h - (h == LR_MAP_EMPTY);
}

/* The index of the byte string s[0..n), or -1. */
static inline int64_t lr_map_get_bytes(const lr_map *m, const void *s, size_t n)
{
    if (!m->slot) return -1;
    uint64_t h = lr_hash_bytes(s, n);
    for (size_t i = lr_map_index(h, m->mask);; i = (i + 1) & m->mask) {
        const lr_map_slot *e = &m->slot[i];
        if (e->not_key == ~h) {
            uint32_t k = (uint32_t)e->val;
            if (m->key_len[k] == n && !memcmp(m->key[k], s, n)) return k;
        } else if (e->not_key == 0)
            return -1;
    }
}

/* String -> int map on lr_map (keys copied); get returns -1 when absent,
 * put replaces the value of a key already there. */
typedef struct lr_strmap {
    lr_map map;          /* key i -> i */
    char **key;
    uint32_t *key_len;
    int *val;
    size_t n, cap_key, cap_len, cap_val;
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
