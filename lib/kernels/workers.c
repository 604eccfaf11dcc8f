/* workers.c - a pool of worker threads that share out numbered tasks.
 *
 * The caller and lr_threads() - 1 workers take task numbers from one
 * atomic counter until none is left, so a thread that the kernel has
 * descheduled (another process on its core) only delays the task it
 * holds: nobody waits at a barrier for a thread with nothing to do.
 * Idle threads sleep on a condition variable after a short spin instead
 * of spinning on (BLIS's own threads spin at their barriers, which on a
 * shared machine makes two threads several times slower than one).
 *
 * Even so, a worker that the kernel deschedules while it holds a task
 * keeps the caller waiting at the end of the job, and beside a busy
 * process that happens often enough to make two threads slower than one.
 * So the caller keeps a gauge: from its own tasks' CPU time it estimates
 * what each job would have taken on it alone, and when over a window the jobs
 * took longer than that, it runs them alone for a spell (doubling while
 * the pool keeps losing) before trying the pool again. */
#include "config.h"
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#define SPIN 2000   /* polls before sleeping (a few microseconds) */
#define WINDOW 10e6        /* ns of pooled jobs per verdict */
#define SPELL_MIN 50e6     /* ns alone after a losing window, doubling ... */
#define SPELL_MAX 3.2e9    /* ... up to this */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;   /* workers: a new job */
static pthread_cond_t finished = PTHREAD_COND_INITIALIZER; /* caller: job done */
static int n_workers;                  /* started so far */
static atomic_uint gen;                /* job generation, bumped per job */
/* the job: read by workers after they see a new generation */
static void (*job_fn)(void *, int);
static void *job_ctx;
static atomic_int job_n;
/* next task: generation in the high 32 bits, task number in the low */
static _Atomic uint64_t next;
static atomic_int done;
static atomic_flag busy = ATOMIC_FLAG_INIT;  /* a job is running */
static _Thread_local bool in_worker;
static bool forced;                    /* lr_par_force: never alone */
/* the gauge, kept by the caller that holds busy */
static double g_alone, g_took;         /* ns in this window: estimated alone, taken */
static double g_spell = SPELL_MIN;     /* the next spell alone */
static _Atomic double g_until;         /* alone until then (read by lr_par_alone) */

static double clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}
static double now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
/* the caller's CPU time: its tasks' cost without the time another
 * process held its core */
static double cpu_ns(void) { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Take and run tasks of generation g until none is left; returns how
 * many this thread ran. */
static int drain(unsigned g)
{
    for (int ran = 0;; ran++) {
        uint64_t cur = atomic_load(&next);
        for (;;) {
            if ((unsigned)(cur >> 32) != g || (int)(uint32_t)cur >= job_n) return ran;
            if (atomic_compare_exchange_weak(&next, &cur, cur + 1)) break;
        }
        job_fn(job_ctx, (int)(uint32_t)cur);
        if (atomic_fetch_add(&done, 1) + 1 == job_n) {
            pthread_mutex_lock(&mu);
            pthread_cond_broadcast(&finished);
            pthread_mutex_unlock(&mu);
        }
    }
}

/* arg: the generation when the worker was made, so that it joins the job
 * that made it */
static void *worker(void *arg)
{
    in_worker = true;
    unsigned seen = (unsigned)(uintptr_t)arg;
    for (;;) {
        unsigned g;
        int spin = 0;
        while ((g = atomic_load(&gen)) == seen && spin < SPIN) {
            cpu_relax();
            spin++;
        }
        if (g == seen) {
            pthread_mutex_lock(&mu);
            while ((g = atomic_load(&gen)) == seen) pthread_cond_wait(&wake, &mu);
            pthread_mutex_unlock(&mu);
        }
        seen = g;
        drain(g);
    }
    return NULL;
}

/* A pooled job began at start; the caller ran mine of its ntasks tasks
 * from t0 to t1 (tasks of one job cost about the same). */
static void gauge(double start, double t0, double t1, int mine, int ntasks)
{
    double end = now_ns();
    if (mine == 0) return;   /* no estimate */
    g_alone += (t1 - t0) / mine * ntasks;
    g_took += end - start;
    if (g_took < WINDOW) return;
    if (g_alone < g_took) {   /* the pool lost: a spell alone */
        atomic_store(&g_until, end + g_spell);
        g_spell = LR_MIN(2 * g_spell, SPELL_MAX);
    } else {
        g_spell = SPELL_MIN;
    }
    g_alone = g_took = 0;
}

void lr_par_force(bool on) { forced = on; }

bool lr_par_alone(void)
{
    return lr_threads() == 1 || in_worker || (!forced && now_ns() < atomic_load(&g_until));
}

void lr_par_for(int ntasks, void (*fn)(void *ctx, int task), void *ctx)
{
    if (ntasks <= 0) return;
    int want = LR_MIN(lr_threads(), ntasks) - 1;
    /* serial: one thread, one task, a call from inside a task, or the
     * pool busy with another caller's job */
    if (want <= 0 || in_worker || atomic_flag_test_and_set(&busy)) {
        for (int i = 0; i < ntasks; i++) fn(ctx, i);
        return;
    }
    double start = now_ns();
    if (start < atomic_load(&g_until) && !forced) {   /* a spell alone */
        for (int i = 0; i < ntasks; i++) fn(ctx, i);
        atomic_flag_clear(&busy);
        return;
    }
    pthread_mutex_lock(&mu);
    while (n_workers < lr_threads() - 1) {
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &at, worker, (void *)(uintptr_t)atomic_load(&gen));
        pthread_attr_destroy(&at);
        if (rc) break;   /* run with the workers there are */
        n_workers++;
    }
    /* the counter moves to the new generation first, so that a worker
     * still in the last job's drain() fails its exchange and leaves */
    unsigned g = atomic_load(&gen) + 1;
    atomic_store(&next, (uint64_t)g << 32);
    atomic_store(&done, 0);
    job_fn = fn;
    job_ctx = ctx;
    job_n = ntasks;
    atomic_store(&gen, g);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&mu);
    in_worker = true;   /* nested calls from fn run serially */
    double t0 = cpu_ns();
    int mine = drain(g);
    double t1 = cpu_ns();
    in_worker = false;
    for (int spin = 0; atomic_load(&done) < ntasks && spin < SPIN; spin++) cpu_relax();
    if (atomic_load(&done) < ntasks) {
        pthread_mutex_lock(&mu);
        while (atomic_load(&done) < ntasks) pthread_cond_wait(&finished, &mu);
        pthread_mutex_unlock(&mu);
    }
    gauge(start, t0, t1, mine, ntasks);
    atomic_flag_clear(&busy);
}

/* ---- loops over ranges ---- */

void lr_par_tasks(int ntasks, double work, void (*fn)(void *ctx, int task), void *ctx)
{
    if (work >= LR_PAR_MIN || forced) {
        lr_par_for(ntasks, fn, ctx);
        return;
    }
    for (int i = 0; i < ntasks; i++) fn(ctx, i);
}

typedef struct range_job {
    long n, chunk;
    void (*fn)(void *, long, long);
    void *ctx;
} range_job;

static void range_task(void *ctx, int task)
{
    const range_job *j = ctx;
    long lo = (long)task * j->chunk;
    j->fn(j->ctx, lo, LR_MIN(j->n, lo + j->chunk));
}

void lr_par_range(long n, double work, void (*fn)(void *ctx, long lo, long hi), void *ctx)
{
    if (n <= 0) return;
    int nt = lr_threads();
    if (n == 1 || (work < LR_PAR_MIN && !forced) || lr_par_alone()) {
        fn(ctx, 0, n);
        return;
    }
    /* four chunks per thread: one held up behind another process costs
     * a quarter of a thread's share */
    long parts = LR_MIN(n, 4L * nt);
    range_job j = {n, (n + parts - 1) / parts, fn, ctx};
    lr_par_for((int)((n + j.chunk - 1) / j.chunk), range_task, &j);
}

typedef struct sum_job {
    long n;
    int parts;
    double (*fn)(void *, long, long);
    void *ctx;
    double *part;
} sum_job;

static void sum_task(void *ctx, int task)
{
    const sum_job *j = ctx;
    j->part[task] = j->fn(j->ctx, j->n * task / j->parts, j->n * (task + 1) / j->parts);
}

double lr_par_sum(long n, double work, double (*fn)(void *ctx, long lo, long hi), void *ctx)
{
    if (n <= 0) return 0;
    double part[LR_PAR_PARTS];
    sum_job j = {n, (int)LR_MIN(n, LR_PAR_PARTS), fn, ctx, part};
    lr_par_tasks(j.parts, work, sum_task, &j);
    double total = 0;   /* in a fixed order: the same sum on any thread count */
    for (int p = 0; p < j.parts; p++) total += part[p];
    return total;
}
