/* dist.c - data parallelism over MPI ranks: the one module that speaks
 * MPI.  A tool calls lr_dist_init() first; when it was started by an MPI
 * launcher (mpirun, srun) it becomes rank r of n, otherwise (or when lr
 * was built without MPI) it is rank 0 of 1 and every collective below is
 * the identity, so the callers run the same code either way.
 *
 * Sums reduce onto rank 0 and broadcast the result, so every rank holds
 * bitwise the same numbers (and applies the same optimizer update).
 * Errors: lr_dist_check() makes a failure on any rank a failure on every
 * rank, with the message of the lowest failing rank; lr_die() after such
 * a shared failure prints once (rank 0) and every rank exits 1.  A rank
 * that dies alone (lr_die on a local error) aborts the whole job. */
#include "config.h"
#include "internal.h"

#include <limits.h>
#include <stdarg.h>
#ifdef HAVE_MPI
#include <mpi.h>
#endif

static int d_rank = 0, d_size = 1;

#ifdef HAVE_MPI
static bool d_mpi = false;       /* MPI_Init was called */
static bool d_shared = false;    /* the last failure is known to every rank */

static void finalize_at_exit(void)
{
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Finalize();
}

/* Started by an MPI launcher?  Open MPI's mpirun, PMI (MPICH, Slurm's
 * srun --mpi=pmi2) or PMIx (srun --mpi=pmix) set these. */
static bool launched(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i])) return true;
    return false;
}

/* MPI counts are int: move large buffers in pieces. */
#define PIECE ((size_t)1 << 28)
#endif

int lr_dist_init(int *argc, char ***argv)
{
#ifdef HAVE_MPI
    if (d_mpi || !launched()) return d_size;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) lr_die("MPI_Init failed");
    d_mpi = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &d_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d_size);
    atexit(finalize_at_exit);
#else
    (void)argc, (void)argv;
#endif
    return d_size;
}

int lr_dist_rank(void) { return d_rank; }
int lr_dist_size(void) { return d_size; }

void lr_dist_share(int64_t n, int64_t *begin, int64_t *end)
{
    *begin = n * d_rank / d_size;
    *end = n * (d_rank + 1) / d_size;
}

#ifdef HAVE_MPI
/* Sum n elements of type t over the ranks, in place, in pieces that fit
 * MPI's int counts: reduced on rank 0 then broadcast, so that every rank
 * holds the same bits. */
static void sum_to_all(void *x, size_t n, size_t elem, MPI_Datatype t)
{
    if (d_size == 1) return;
    char *p = x;
    for (size_t i = 0; i < n; i += PIECE) {
        int c = (int)LR_MIN(PIECE, n - i);
        MPI_Reduce(d_rank ? p + i * elem : MPI_IN_PLACE, p + i * elem, c, t, MPI_SUM, 0, MPI_COMM_WORLD);
        MPI_Bcast(p + i * elem, c, t, 0, MPI_COMM_WORLD);
    }
}
#endif

void lr_dist_sum_float(float *x, size_t n)
{
#ifdef HAVE_MPI
    sum_to_all(x, n, sizeof *x, MPI_FLOAT);
#else
    (void)x, (void)n;
#endif
}

void lr_dist_sum_double(double *x, size_t n)
{
#ifdef HAVE_MPI
    sum_to_all(x, n, sizeof *x, MPI_DOUBLE);
#else
    (void)x, (void)n;
#endif
}

void lr_dist_sum_int64(int64_t *x, size_t n)
{
#ifdef HAVE_MPI
    if (d_size == 1) return;
    for (size_t i = 0; i < n; i += PIECE)
        MPI_Allreduce(MPI_IN_PLACE, x + i, (int)LR_MIN(PIECE, n - i), MPI_INT64_T, MPI_SUM,
                      MPI_COMM_WORLD);
#else
    (void)x, (void)n;
#endif
}

void lr_dist_gather_rows(const float *mine, float *all, int64_t n, int64_t width)
{
    int64_t b, e;
    lr_dist_share(n, &b, &e);
    if (d_size == 1) {
        if (all != mine && n > 0) memcpy(all, mine, (size_t)(n * width) * sizeof *all);
        return;
    }
#ifdef HAVE_MPI
    if (n * width > INT_MAX) lr_die("gathering %lld x %lld floats: more than MPI can count",
                                    (long long)n, (long long)width);
    int *cnt = lr_xmalloc((size_t)d_size * sizeof *cnt), *off = lr_xmalloc((size_t)d_size * sizeof *off);
    for (int r = 0; r < d_size; r++) {
        off[r] = (int)(n * r / d_size * width);
        cnt[r] = (int)(n * (r + 1) / d_size * width) - off[r];
    }
    /* a rank with no rows passes a valid pointer all the same */
    MPI_Allgatherv(cnt[d_rank] ? mine : all, cnt[d_rank], MPI_FLOAT, all, cnt, off, MPI_FLOAT,
                   MPI_COMM_WORLD);
    free(cnt);
    free(off);
#endif
}

int lr_dist_check(int rc, lr_error *err)
{
    if (d_size == 1) return rc;
#ifdef HAVE_MPI
    int mine = rc ? d_rank : d_size, first;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (first == d_size) return 0;
    char msg[sizeof err->msg];
    if (d_rank == first) snprintf(msg, sizeof msg, "%s", err ? err->msg : "failed");
    MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, MPI_COMM_WORLD);
    msg[sizeof msg - 1] = 0;
    if (first == 0) lr_errorf(err, "%s", msg);
    else lr_errorf(err, "rank %d of %d: %s", first, d_size, msg);
    d_shared = true;
    return -1;
#else
    return rc;
#endif
}

int lr_dist_agree(uint64_t digest, const char *what, lr_error *err)
{
    if (d_size == 1) return 0;
#ifdef HAVE_MPI
    uint64_t *all = lr_xmalloc((size_t)d_size * sizeof *all);
    MPI_Allgather(&digest, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
    int differs = 0;
    for (int r = 1; r < d_size && !differs; r++)
        if (all[r] != all[0]) differs = r;
    free(all);
    if (!differs) return 0;
    lr_errorf(err, "the ranks disagree: rank %d has a different %s than rank 0", differs, what);
    d_shared = true;
    return -1;
#else
    (void)digest, (void)what, (void)err;
    return 0;
#endif
}

void lr_dist_die(const char *msg)
{
#ifdef HAVE_MPI
    if (d_size > 1) {
        if (d_shared) {
            /* every rank failed together: one message, every rank exits */
            if (d_rank == 0) fprintf(stderr, "%s: %s\n", lr_progname(), msg);
            exit(1);
        }
        fprintf(stderr, "%s: rank %d of %d: %s\n", lr_progname(), d_rank, d_size, msg);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
#endif
    fprintf(stderr, "%s: %s\n", lr_progname(), msg);
    exit(1);
}

/* 64-bit words through a multiply-xorshift mix; the tail byte by byte. */
uint64_t lr_digest(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    const uint64_t k = 0x9E3779B97F4A7C15ULL;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * k;
        h ^= h >> 29;
    }
    for (; i < n; i++) {
        h = (h ^ p[i]) * k;
        h ^= h >> 29;
    }
    return (h ^ n) * k;
}
