/* check-util.h - helpers shared by the Check unit tests. */
#ifndef LR_CHECK_UTIL_H
#define LR_CHECK_UTIL_H
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Path of ../shared (LR_SHARED), or NULL when absent. */
static inline const char *shared_dir(void)
{
    const char *d = getenv("LR_SHARED");
    struct stat st;
    if (!d || stat(d, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
    return d;
}

/* Build "<shared>/<rel>" in buf; returns NULL when the shared material is
 * absent, so the test can return early (run_suite_shared then reports the
 * whole program as skipped). */
static inline const char *shared_path(char *buf, size_t n, const char *rel)
{
    const char *d = shared_dir();
    if (!d) return NULL;
    snprintf(buf, n, "%s/%s", d, rel);
    return buf;
}

/* Relative error of a against reference r: max|a-r| / max|r|. */
static inline double rel_err_f32_f64(const float *a, const double *r, size_t n)
{
    double dmax = 0, rmax = 0;
    for (size_t i = 0; i < n; i++) {
        double d = a[i] - r[i];
        if (d < 0) d = -d;
        double m = r[i] < 0 ? -r[i] : r[i];
        if (d > dmax || d != d) dmax = d != d ? 1e300 : d;
        if (m > rmax) rmax = m;
    }
    return rmax > 0 ? dmax / rmax : dmax;
}

/* With LR_TEST_VERBOSE set, print a measured error (tolerances are set from
 * these: "LR_TEST_VERBOSE=1 tests/test-forward 2>&1 | grep ^measured"). */
static inline double measured(const char *what, const char *where, double err)
{
    if (getenv("LR_TEST_VERBOSE")) fprintf(stderr, "measured %s %s %.3g\n", what, where, err);
    return err;
}

/* Run a suite; exit status for automake (0 passed, 1 failed). */
static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Run a suite some of whose tests need ../shared. Without it those tests
 * return early, so a clean run is reported as skipped (77), not passed;
 * with CI set in the environment, a missing ../shared fails at once. */
static inline int run_suite_shared(Suite *s)
{
    if (!shared_dir()) {
        const char *d = getenv("LR_SHARED");
        if (getenv("CI")) {
            fprintf(stderr, "FAIL: CI is set but the shared reference data (%s) is absent\n",
                    d ? d : "LR_SHARED unset");
            return EXIT_FAILURE;
        }
        fprintf(stderr, "skip: %s absent: tests that need shared data return early\n",
                d ? d : "LR_SHARED");
    }
    int rc = run_suite(s);
    return rc == EXIT_SUCCESS && !shared_dir() ? 77 : rc;
}
#endif
