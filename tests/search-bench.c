/* search-bench - throughput of the exact top-k search against the
 * machine's GEMM peak (a plain large lr_sgemm) measured in the same run.
 * usage: search-bench [NQ [NDOCS [DIM [K [BLOCK [THREADS]]]]]]
 *        search-bench gen N DIM KIND SEED: N random vectors as an
 *        embeddings stream on stdout (ids d0.. or q0..) */
#include "config.h"
#include "lr.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static inline float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / (1 << 24)) * 2.0 - 1.0);
}

static void fill(float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) v[i] = frand();
}

static long peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

static int gen(long n, int dim, const char *kind, uint64_t seed)
{
    lr_emb_header h = {.dim = dim};
    snprintf(h.kind, sizeof h.kind, "%s", kind);
    strcpy(h.pooling, "last");
    rng ^= seed * 0x2545f4914f6cdd1dULL;
    lr_error err;
    lr_emb_writer *w = lr_emb_writer_new(stdout, &h, &err);
    float *v = malloc((size_t)dim * 4);
    char id[32];
    for (long i = 0; w && i < n; i++) {
        fill(v, dim);
        snprintf(id, sizeof id, "%c%ld", kind[0] == 'q' ? 'q' : 'd', i);
        if (lr_emb_write(w, id, v, &err) < 0) break;
    }
    free(v);
    if (!w || lr_emb_writer_close(w, &err) < 0) {
        fprintf(stderr, "search-bench: %s\n", err.msg);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && !strcmp(argv[1], "gen"))
        return gen(atol(argv[2]), atoi(argv[3]), argv[4], strtoull(argv[5], NULL, 10));
    int nq = argc > 1 ? atoi(argv[1]) : 1000;
    long nd = argc > 2 ? atol(argv[2]) : 1000000;
    int dim = argc > 3 ? atoi(argv[3]) : 1024;
    int k = argc > 4 ? atoi(argv[4]) : 100;
    int block = argc > 5 ? atoi(argv[5]) : 8192;
    int threads = lr_threads_init(argc > 6 ? atoi(argv[6]) : 0);
    printf("search-bench: %d queries, %ld docs, dim %d, top %d, block %d, %d threads, BLIS %s\n",
           nq, nd, dim, k, block, threads, lr_blas_arch());

    {   /* warm BLIS up (thread pool, packing buffers) before timing anything */
        float *w = calloc((size_t)512 * 512 * 3, 4);
        lr_sgemm(false, true, 512, 512, 512, 1, w, 512, w + 512 * 512, 512, 0, w + 2 * 512 * 512, 512);
        free(w);
    }
    float *q = malloc((size_t)nq * dim * 4), *docs = malloc((size_t)block * dim * 4);
    fill(q, (size_t)nq * dim);
    char **ids = malloc(block * sizeof *ids);
    for (int i = 0; i < block; i++) ids[i] = malloc(16);
    lr_search *s = lr_search_new(q, nq, dim, k, NULL, false);
    double searching = 0, t0 = lr_now();
    for (long done = 0; done < nd; done += block) {
        int m = nd - done < block ? (int)(nd - done) : block;
        fill(docs, (size_t)m * dim);   /* not timed */
        for (int i = 0; i < m; i++) snprintf(ids[i], 16, "d%ld", done + i);
        double t = lr_now();
        lr_search_add(s, docs, m, (const char *const *)ids);
        searching += lr_now() - t;
    }
    const lr_hit *h;
    double t = lr_now();
    int got = lr_search_hits(s, 0, &h);
    searching += lr_now() - t;
    double wall = lr_now() - t0;
    long rss = peak_rss_mb();   /* before the peak measurement's matrices */
    /* GEMM peak: a plain large square product, best of 3 */
    int n = 4096;
    float *a = malloc((size_t)n * n * 4), *b = malloc((size_t)n * n * 4), *c = malloc((size_t)n * n * 4);
    fill(a, (size_t)n * n);
    fill(b, (size_t)n * n);
    lr_sgemm(false, true, 512, 512, 512, 1, a, n, b, n, 0, c, n);   /* warm up */
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double t = lr_now();
        lr_sgemm(false, true, n, n, n, 1, a, n, b, n, 0, c, n);
        t = lr_now() - t;
        if (t < best) best = t;
    }
    double peak = 2.0 * n * n * n / best / 1e9;
    printf("GEMM peak (sgemm %dx%dx%d, best of 3): %.1f GFLOP/s\n", n, n, n, peak);
    free(a);
    free(b);
    free(c);

    double gflops = 2.0 * nq * (double)nd * dim / searching / 1e9;
    printf("search: %.2f s searching (%.2f s wall with generation), %.1f GFLOP/s = %.0f%% of peak\n",
           searching, wall, gflops, 100 * gflops / peak);
    printf("query 0: %d hits, best %s %.4f\n", got, got ? h[0].docno : "-", got ? h[0].score : 0);
    printf("peak RSS %ld MB (block of documents: %.0f MB, scores: %.0f MB)\n", rss,
           (double)block * dim * 4 / 1048576, (double)nq * block * 4 / 1048576);
    lr_search_free(s);
    for (int i = 0; i < block; i++) free(ids[i]);
    free(ids);
    free(q);
    free(docs);
    return 0;
}
