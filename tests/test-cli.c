/* test-cli.c - util and kernels: errors, lists, growable arrays, the hash
 * map, atomic output, GEMM. */
#include "config.h"
#include "check-util.h"
#include "internal.h"
#include "lr.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

START_TEST(test_errorf_prefix)
{
    lr_error e;
    ck_assert_int_eq(lr_errorf(&e, "line %d: bad", 3), -1);
    lr_error_prefix(&e, "%s", "qrels.tsv");
    ck_assert_str_eq(e.msg, "qrels.tsv: line 3: bad");
    ck_assert_int_eq(lr_errorf(NULL, "x"), -1);
}
END_TEST

START_TEST(test_int_list)
{
    int *v;
    int n = lr_parse_int_list("--x", "5,1-3,2", 10, &v);
    ck_assert_int_eq(n, 4);
    ck_assert_int_eq(v[0], 1);
    ck_assert_int_eq(v[1], 2);
    ck_assert_int_eq(v[2], 3);
    ck_assert_int_eq(v[3], 5);
    free(v);
}
END_TEST

START_TEST(test_int_list_out_of_range)
{
    int *v;
    lr_cli_init("test");
    lr_parse_int_list("--x", "1,12", 10, &v);   /* exits 2 */
}
END_TEST

/* lr_grow: room for at least `need`, the capacity doubling from 16, the
 * contents kept, and no reallocation while the room suffices. */
START_TEST(test_grow)
{
    int *v = NULL;
    size_t cap = 0;
    v = lr_grow(v, &cap, 0, sizeof *v);
    ck_assert_ptr_null(v);
    ck_assert_uint_eq(cap, 0);
    for (int i = 0; i < 1000; i++) {
        size_t before = cap;
        int *old = v;
        v = lr_grow(v, &cap, (size_t)i + 1, sizeof *v);
        if ((size_t)i < before) ck_assert_ptr_eq(v, old);
        ck_assert_uint_ge(cap, (size_t)i + 1);
        ck_assert_uint_eq(cap, (size_t)i < 16 ? 16 : before >= (size_t)i + 1 ? before : 2 * before);
        v[i] = 3 * i;
    }
    ck_assert_uint_eq(cap, 1024);
    for (int i = 0; i < 1000; i++) ck_assert_int_eq(v[i], 3 * i);
    /* a jump past twice the capacity doubles until it fits */
    v = lr_grow(v, &cap, 5000, sizeof *v);
    ck_assert_uint_eq(cap, 8192);
    for (int i = 0; i < 1000; i++) ck_assert_int_eq(v[i], 3 * i);
    free(v);
    /* an element of several bytes */
    double(*rows)[3] = NULL;
    size_t rcap = 0;
    rows = lr_grow(rows, &rcap, 20, sizeof *rows);
    ck_assert_uint_eq(rcap, 32);
    for (int i = 0; i < 20; i++) rows[i][2] = i;
    rows = lr_grow(rows, &rcap, 33, sizeof *rows);
    ck_assert_uint_eq(rcap, 64);
    for (int i = 0; i < 20; i++) ck_assert(rows[i][2] == i);
    free(rows);
}
END_TEST

/* UTF-8 validation against Unicode's table 3-7 and its examples of
 * maximal invalid subparts (the unit one U+FFFD replaces). */
START_TEST(test_utf8)
{
    static const struct { const char *s; long want; } seq[] = {
        {"A", 1}, {"\xC3\xA9", 2}, {"\xE2\x82\xAC", 3}, {"\xF0\x9F\x98\x80", 4},
        {"\xF4\x8F\xBF\xBF", 4},   /* U+10FFFF, the last code point */
        {"\xC0\x80", -1},            /* overlong NUL */
        {"\xC1\xBF", -1},
        {"\xE0\x80\x80", -1},        /* overlong three-byte form */
        {"\xED\xA0\x80", -1},        /* a surrogate */
        {"\xF4\x90\x80\x80", -1},    /* above U+10FFFF */
        {"\xF5\x80", -1}, {"\xFF", -1}, {"\x80", -1},
        {"\xE2\x82", -2},            /* cut short: the whole prefix is one subpart */
        {"\xF0\x9F\x98", -3},
        {"\xE2\x28\xA1", -1},        /* a bad second byte ends the subpart */
    };
    for (size_t i = 0; i < LR_ARRAY_LEN(seq); i++) {
        size_t n = strlen(seq[i].s);
        long r = lr_utf8_check((const unsigned char *)seq[i].s, n);
        ck_assert_msg(r == seq[i].want, "case %zu: %ld, want %ld", i, r, seq[i].want);
        ck_assert_uint_eq(lr_utf8_valid_len((const unsigned char *)seq[i].s, n),
                          seq[i].want > 0 ? (size_t)seq[i].want : 0);
        ck_assert(lr_utf8_valid(seq[i].s, n) == (seq[i].want == (long)n));
    }
    ck_assert(lr_utf8_valid("", 0));
    ck_assert(lr_utf8_valid("caf\xC3\xA9 \xE2\x82\xAC" "5", 10));
    ck_assert(!lr_utf8_valid("caf\xC3\xA9 \xE2\x82", 8));    /* valid prefix, cut end */
    ck_assert(!lr_utf8_valid("a\xC3\xA9\xA9", 4));             /* stray continuation byte */
}
END_TEST

/* Integer keys: a zeroed map grows from nothing; the first value of a key
 * stays; absent keys (neighbours of present ones) are absent. */
START_TEST(test_map_int)
{
    lr_map m = {0};
    ck_assert_ptr_null(lr_map_get(&m, 7));
    for (uint64_t a = 0; a < 300; a++)
        for (uint64_t b = 0; b < 300; b += 3) ck_assert_int_eq(lr_map_put(&m, a << 32 | b, a * 1000 + b), 0);
    ck_assert_uint_eq(m.n, 300 * 100);
    ck_assert_uint_le(2 * m.n, m.mask + 1);
    ck_assert_int_eq(lr_map_put(&m, 5ULL << 32 | 6, 1), 1);
    for (uint64_t a = 0; a < 301; a++)
        for (uint64_t b = 0; b < 301; b++) {
            const lr_map_slot *s = lr_map_get(&m, a << 32 | b);
            if (a < 300 && b < 300 && b % 3 == 0) {
                ck_assert_ptr_nonnull(s);
                ck_assert_uint_eq(s->val, a * 1000 + b);
            } else
                ck_assert_ptr_null(s);
        }
    lr_map_free(&m);
    /* sized up front: no growth up to n_expected keys */
    lr_map_init(&m, 1000);
    lr_map_slot *slots = m.slot;
    for (uint64_t k = 0; k < 1000; k++) lr_map_put(&m, k * 0x10000, k);
    ck_assert_ptr_eq(m.slot, slots);
    for (uint64_t k = 0; k < 1000; k++) ck_assert_uint_eq(lr_map_get(&m, k * 0x10000)->val, k);
    lr_map_free(&m);
}
END_TEST

/* Byte keys held by the caller, NULs and prefixes of each other included;
 * an equal key put again keeps the first index. */
START_TEST(test_map_bytes)
{
    static const char *const key[] = {"", "\0", "\0\0", "a", "ab", "abc", "abcdefgh", "abcdefghi",
                                      "abcdefgh\0", "b\0a"};
    static const uint32_t len[] = {0, 1, 2, 1, 2, 3, 8, 9, 9, 3};
    lr_map m = {0};
    m.key = key;
    m.key_len = len;
    ck_assert_int_eq(lr_map_get_bytes(&m, "a", 1), -1);
    for (uint32_t i = 0; i < LR_ARRAY_LEN(key); i++) ck_assert_int_eq(lr_map_put_bytes(&m, i), -1);
    for (uint32_t i = 0; i < LR_ARRAY_LEN(key); i++) ck_assert_int_eq(lr_map_get_bytes(&m, key[i], len[i]), i);
    ck_assert_int_eq(lr_map_get_bytes(&m, "abcd", 4), -1);
    ck_assert_int_eq(lr_map_get_bytes(&m, "b", 1), -1);
    ck_assert_int_eq(lr_map_get_bytes(&m, "\0\0\0", 3), -1);
    lr_map_free(&m);
    static const char *const both[] = {"ab", "ab"};
    static const uint32_t both_len[] = {2, 2};
    lr_map_init(&m, 2);
    m.key = both;
    m.key_len = both_len;
    ck_assert_int_eq(lr_map_put_bytes(&m, 0), -1);
    ck_assert_int_eq(lr_map_put_bytes(&m, 1), 0);
    ck_assert_int_eq(lr_map_get_bytes(&m, "ab", 2), 0);
    lr_map_free(&m);
}
END_TEST

/* lr_strmap against a linear search: replaced values, absent keys. */
START_TEST(test_strmap)
{
    lr_strmap m = {0};
    ck_assert_int_eq(lr_strmap_get(&m, "x"), -1);
    enum { N = 20000 };
    char k[32];
    for (int i = 0; i < N; i++) {
        snprintf(k, sizeof k, "doc%d", i);
        lr_strmap_put(&m, k, i);
    }
    for (int i = 0; i < N; i += 2) {
        snprintf(k, sizeof k, "doc%d", i);
        lr_strmap_put(&m, k, -i - 5);
    }
    ck_assert_uint_eq(m.n, N);
    for (int i = 0; i < N + 100; i++) {
        snprintf(k, sizeof k, "doc%d", i);
        ck_assert_int_eq(lr_strmap_get(&m, k), i >= N ? -1 : i % 2 ? i : -i - 5);
    }
    ck_assert_int_eq(lr_strmap_get(&m, "doc"), -1);
    ck_assert_int_eq(lr_strmap_get(&m, ""), -1);
    lr_strmap_put(&m, "", 3);
    ck_assert_int_eq(lr_strmap_get(&m, ""), 3);
    lr_strmap_free(&m);
}
END_TEST

START_TEST(test_atomic_output)
{
    char dir[] = "/tmp/lr-test-XXXXXX", path[256];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/out.txt", dir);
    lr_error e;
    lr_out *o = lr_out_open(path, &e);
    ck_assert_ptr_nonnull(o);
    fputs("partial", o->fp);
    ck_assert_int_ne(access(path, F_OK), 0);   /* nothing at the final path yet */
    lr_out_abort(o);
    ck_assert_int_ne(access(path, F_OK), 0);
    o = lr_out_open(path, &e);
    fputs("whole", o->fp);
    ck_assert_int_eq(lr_out_commit(o, &e), 0);
    size_t n;
    char *s = lr_read_file(path, &n, &e);
    ck_assert_str_eq(s, "whole");
    free(s);
    unlink(path);
    rmdir(dir);
}
END_TEST

void lr_out_use_tmpfile(bool on);   /* cli.c: tests force the named fallback */

/* Entries of dir other than . and .. */
static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* A child writes an output and dies of sig before committing; the
 * directory must be left empty. */
static void die_writing(const char *dir, int sig, bool tmpfile)
{
    char path[256];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* as in a tool: default dispositions (Check handles SIGTERM) */
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        lr_out_use_tmpfile(tmpfile);
        lr_error e;
        lr_out *o = lr_out_open(path, &e);
        if (!o) _exit(3);
        fputs("partial", o->fp);
        fflush(o->fp);
        raise(sig);
        _exit(4);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == sig, "child status %d", status);
    ck_assert_msg(dir_entries(dir) == 0, "%s left behind (signal %d, %s)", tmpfile ? "unnamed file" : "temporary",
                  sig, tmpfile ? "O_TMPFILE" : "named");
}

START_TEST(test_output_left_nothing)
{
    char dir[] = "/tmp/lr-test-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    die_writing(dir, SIGKILL, true);   /* O_TMPFILE: nothing even on SIGKILL */
    die_writing(dir, SIGTERM, true);
    die_writing(dir, SIGTERM, false);  /* the named fallback is removed on signals */
    die_writing(dir, SIGINT, false);
    die_writing(dir, SIGHUP, false);
    rmdir(dir);
}
END_TEST

/* -o onto a symbolic link writes its target and keeps the link; an
 * existing output is replaced whole, on both paths. */
START_TEST(test_output_symlink_and_replace)
{
    char dir[] = "/tmp/lr-test-XXXXXX", link[256], target[256];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(link, sizeof link, "%s/link.txt", dir);
    snprintf(target, sizeof target, "%s/target.txt", dir);
    ck_assert_int_eq(symlink("target.txt", link), 0);   /* dangling: the target is created */
    for (int tmpfile = 1; tmpfile >= 0; tmpfile--) {
        lr_out_use_tmpfile(tmpfile);
        for (int round = 0; round < 2; round++) {   /* create, then replace */
            lr_error e;
            lr_out *o = lr_out_open(link, &e);
            ck_assert_ptr_nonnull(o);
            fprintf(o->fp, "round %d %d", tmpfile, round);
            ck_assert_int_eq(lr_out_commit(o, &e), 0);
            struct stat st;
            ck_assert_int_eq(lstat(link, &st), 0);
            ck_assert(S_ISLNK(st.st_mode));
            ck_assert_int_eq(lstat(target, &st), 0);
            ck_assert(S_ISREG(st.st_mode));
            ck_assert_int_eq(st.st_mode & 0777, 0644 & ~umask(umask(0)));
            char want[32], *got = lr_read_file(link, NULL, &e);
            snprintf(want, sizeof want, "round %d %d", tmpfile, round);
            ck_assert_str_eq(got, want);
            free(got);
            ck_assert_int_eq(dir_entries(dir), 2);
        }
    }
    lr_out_use_tmpfile(true);
    unlink(link);
    unlink(target);
    rmdir(dir);
}
END_TEST

/* GEMM against a naive triple loop, all four transpose combinations, on
 * one product small enough for one thread and one that the worker pool
 * cuts into blocks (sides not multiples of the block alignment). */
START_TEST(test_sgemm)
{
    lr_threads_init(2);
    static const int shape[2][3] = {{37, 29, 53}, {301, 267, 45}};
    for (int sh = 0; sh < 2; sh++) {
        int m = shape[sh][0], n = shape[sh][1], k = shape[sh][2];
        float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n);
        float *c = malloc(sizeof(float) * m * n);
        for (int i = 0; i < m * k; i++) a[i] = sinf(i * 0.37f);
        for (int i = 0; i < k * n; i++) b[i] = cosf(i * 0.11f);
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                for (int i = 0; i < m * n; i++) c[i] = 1.0f;
                /* the same matrices stored transposed when the flag says so */
                lr_sgemm(ta, tb, m, n, k, 2.0f, a, ta ? m : k, b, tb ? k : n, 0.5f, c, n);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        double s = 0;
                        for (int p = 0; p < k; p++)
                            s += (double)(ta ? a[p * m + i] : a[i * k + p]) *
                                 (tb ? b[j * k + p] : b[p * n + j]);
                        ck_assert_double_eq_tol(c[i * n + j], 2 * s + 0.5, 1e-3);
                    }
            }
        free(a), free(b), free(c);
    }
    ck_assert_ptr_nonnull(lr_blas_arch());
}
END_TEST

/* The worker pool runs every task exactly once, also when a task starts
 * another job (which then runs serially) and across many jobs. */
static _Atomic int par_count[500];
static void par_inner(void *ctx, int task)
{
    (void)ctx;
    par_count[task]++;
}
static void par_outer(void *ctx, int task)
{
    par_count[task]++;
    if (task == 3) lr_par_for(10, par_inner, ctx);
}

START_TEST(test_par_for)
{
    lr_threads_init(2);
    for (int round = 0; round < 200; round++) {
        int n = 1 + round * 7 % 499;
        for (int i = 0; i < 500; i++) par_count[i] = 0;
        lr_par_for(n, round % 2 ? par_outer : par_inner, NULL);
        for (int i = 0; i < 500; i++)
            ck_assert_int_eq(par_count[i], (i < n) + (round % 2 && i < 10 && n > 3));
    }
    /* the grid with the pool in use (the jobs above, tiny, may have sent
     * it into a spell alone, when a product is one block) */
    lr_par_force(true);
    int bm, bn;
    int blocks = lr_par_grid(2048, 4864, 48, 32, 128, &bm, &bn);
    ck_assert_int_eq(blocks, ((2048 + bm - 1) / bm) * ((4864 + bn - 1) / bn));
    ck_assert(blocks >= 4 && bm % 48 == 0 && bn % 32 == 0 && bm >= 128 && bn >= 128);
    lr_par_force(false);
}
END_TEST

/* A worker that keeps the caller waiting on every job (its tasks sleep
 * 3 ms, as if another process held its core) sends the pool into a spell
 * alone: lr_par_alone() turns true, and in the spell a job runs all its
 * tasks on the caller and a product is one block.  lr_par_force keeps the
 * pool in use. */
static pthread_t gauge_caller;
static _Atomic int gauge_elsewhere;
static _Atomic bool gauge_wait;   /* the caller waits (asleep) for the worker to join */
static void gauge_task(void *ctx, int task)
{
    (void)ctx;
    if (!pthread_equal(pthread_self(), gauge_caller)) {
        gauge_elsewhere++;
        usleep(3000);
        return;
    }
    /* on a loaded machine the worker may wake late: let it take a task
     * (sleeping costs the caller no CPU time, which the gauge counts) */
    for (int i = 0; gauge_wait && task == 0 && gauge_elsewhere == 0 && i < 1000; i++) usleep(50);
    volatile double x = 0;   /* some microseconds of work */
    for (int i = 0; i < 20000; i++) x += i;
}

START_TEST(test_par_gauge)
{
    lr_threads_init(2);
    gauge_caller = pthread_self();
    ck_assert(!lr_par_alone());
    int jobs = 0, joined = 0;
    gauge_wait = true;
    while (jobs < 200 && !lr_par_alone()) {
        gauge_elsewhere = 0;
        lr_par_for(8, gauge_task, NULL);
        jobs++, joined += gauge_elsewhere > 0;
    }
    gauge_wait = false;
    ck_assert_msg(lr_par_alone(), "%d jobs (the worker in %d) and still no spell alone", jobs, joined);
    ck_assert_msg(joined > 0, "the worker never took a task");
    /* a job that began and ended in the spell ran on the caller alone */
    bool checked = false;
    for (int tries = 0; tries < 20 && !checked; tries++) {
        while (!lr_par_alone()) lr_par_for(8, gauge_task, NULL);
        gauge_elsewhere = 0;
        lr_par_for(8, gauge_task, NULL);
        int bm, bn, blocks = lr_par_grid(2048, 4864, 48, 32, 128, &bm, &bn);
        if (lr_par_alone()) {
            ck_assert_int_eq(gauge_elsewhere, 0);
            ck_assert_int_eq(blocks, 1);   /* a product alone is one block */
            checked = true;
        }
    }
    ck_assert(checked);
    lr_par_force(true);
    ck_assert(!lr_par_alone());
    lr_par_force(false);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_errorf_prefix);
    tcase_add_test(tc, test_int_list);
    tcase_add_exit_test(tc, test_int_list_out_of_range, 2);
    tcase_add_test(tc, test_grow);
    tcase_add_test(tc, test_utf8);
    tcase_add_test(tc, test_map_int);
    tcase_add_test(tc, test_map_bytes);
    tcase_add_test(tc, test_strmap);
    tcase_add_test(tc, test_atomic_output);
    tcase_add_test(tc, test_output_left_nothing);
    tcase_add_test(tc, test_output_symlink_and_replace);
    tcase_add_test(tc, test_sgemm);
    tcase_add_test(tc, test_par_for);
    tcase_add_test(tc, test_par_gauge);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
