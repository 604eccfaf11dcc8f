/* test-stats.c - paired tests, bootstrap and corrections on values worked
 * out by hand (closed forms, counted distributions). */
#include "config.h"
#include "check-util.h"
#include "lr.h"

#include <math.h>

/* d = 1, 2, 3: mean 2, sd 1, t = 2 sqrt(3) on 2 degrees of freedom, whose
 * two-sided tail has the closed form 1 - t / sqrt(t^2 + 2). */
START_TEST(test_ttest_closed_form)
{
    double x[] = {0.5, 0.25, 0.0}, y[] = {1.5, 2.25, 3.0};
    double t = 2 * sqrt(3.0);
    ck_assert_double_eq_tol(lr_ttest_paired(x, y, 3), 1 - t / sqrt(t * t + 2), 1e-12);
    ck_assert_double_eq_tol(lr_ttest_paired(y, x, 3), 1 - t / sqrt(t * t + 2), 1e-12);
    /* identical runs, and a constant shift */
    ck_assert_double_eq(lr_ttest_paired(x, x, 3), 1.0);
    double z[] = {1.5, 1.25, 1.0};
    ck_assert_double_eq(lr_ttest_paired(x, z, 3), 0.0);
}
END_TEST

/* Exact signed-rank distribution: 2^n equally likely sign sets. */
START_TEST(test_wilcoxon_exact_by_hand)
{
    bool exact;
    /* n = 5, all positive: R+ = 15, P(R+ >= 15) = 1/32, two-sided 1/16 */
    double x[] = {0, 0, 0, 0, 0, 0}, y[] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6};
    ck_assert_double_eq_tol(lr_wilcoxon(x, y, 5, &exact), 2.0 / 32, 1e-15);
    ck_assert(exact);
    /* n = 6, rank 2 negative: R+ = 19, P(R+ >= 19) = P(R+ <= 2) = 3/64 */
    double y2[] = {0.1, -0.2, 0.3, 0.4, 0.5, 0.6};
    ck_assert_double_eq_tol(lr_wilcoxon(x, y2, 6, &exact), 6.0 / 64, 1e-15);
    ck_assert(exact);
    /* n = 4, R+ = 5 = the centre (10 / 2): p = 1 */
    double y3[] = {0.1, -0.2, -0.3, 0.4};
    ck_assert_double_eq(lr_wilcoxon(x, y3, 4, &exact), 1.0);
    /* every difference 0 */
    ck_assert_double_eq(lr_wilcoxon(x, x, 6, &exact), 1.0);
    ck_assert(!exact);
}
END_TEST

/* Normal approximation with a zero and a tie: d = 0, 1, 1, 2 (ranks 1.5,
 * 1.5, 3 after the zero goes), R+ = 6, R- = 0, T = 0; mean 3, variance
 * (3*4*7 - 0.5*(2*3)) / 24 = 81 / 24. */
START_TEST(test_wilcoxon_normal_by_hand)
{
    bool exact;
    double x[] = {0.5, 0.5, 0.5, 0.5}, y[] = {0.5, 0.6, 0.6, 0.7};
    double z = 3 / sqrt(81.0 / 24);
    ck_assert_double_eq_tol(lr_wilcoxon(x, y, 4, &exact), erfc(z / sqrt(2.0)), 1e-12);
    ck_assert(!exact);
}
END_TEST

START_TEST(test_randomization_seeded)
{
    double x[12], y[12];
    for (int i = 0; i < 12; i++) {
        x[i] = 0.3 + 0.01 * i;
        y[i] = x[i] + (i % 3 == 0 ? -0.05 : 0.04) + 0.001 * i;
    }
    double p1 = lr_randomization(x, y, 12, 2000, 5), p2 = lr_randomization(x, y, 12, 2000, 5);
    ck_assert_double_eq(p1, p2);
    ck_assert(p1 > 0 && p1 <= 1);
    /* (count + 1) / (trials + 1): identical runs count every trial */
    ck_assert_double_eq(lr_randomization(x, x, 12, 99, 1), 1.0);
    /* with one trial, p is 1/2 or 1 */
    double p = lr_randomization(x, y, 12, 1, 3);
    ck_assert(p == 0.5 || p == 1.0);
}
END_TEST

START_TEST(test_bootstrap_constant)
{
    double x[] = {0.1, 0.2, 0.3, 0.4}, y[] = {0.15, 0.25, 0.35, 0.45}, lo, hi;
    lr_bootstrap_ci(x, y, 4, 500, 0.95, 9, &lo, &hi);
    ck_assert_double_eq_tol(lo, 0.05, 1e-12);
    ck_assert_double_eq_tol(hi, 0.05, 1e-12);
    /* two values 0 and 1: the resampled means are k/2, k ~ Binomial(2, 1/2) */
    double a[] = {0, 0}, b[] = {0, 1};
    lr_bootstrap_ci(a, b, 2, 4000, 0.95, 9, &lo, &hi);
    ck_assert_double_eq(lo, 0.0);
    ck_assert_double_eq(hi, 1.0);
}
END_TEST

START_TEST(test_p_adjust_by_hand)
{
    double p[] = {0.01, 0.04, 0.03, 0.005}, out[4];
    lr_p_adjust(p, out, 4, LR_CORRECT_HOLM);
    double holm[] = {0.03, 0.06, 0.06, 0.02};
    for (int i = 0; i < 4; i++) ck_assert_double_eq_tol(out[i], holm[i], 1e-15);
    lr_p_adjust(p, out, 4, LR_CORRECT_BONFERRONI);
    double bonf[] = {0.04, 0.16, 0.12, 0.02};
    for (int i = 0; i < 4; i++) ck_assert_double_eq_tol(out[i], bonf[i], 1e-15);
    double big[] = {0.5, 0.3};
    lr_p_adjust(big, out, 2, LR_CORRECT_HOLM);
    ck_assert_double_eq(out[0], 0.6);
    ck_assert_double_eq(out[1], 0.6);
    lr_p_adjust(big, out, 2, LR_CORRECT_BONFERRONI);
    ck_assert_double_eq(out[0], 1.0);
    lr_p_adjust(big, big, 2, LR_CORRECT_NONE);
    ck_assert_double_eq(big[1], 0.3);
}
END_TEST

START_TEST(test_names)
{
    lr_test t;
    lr_correction c;
    ck_assert_int_eq(lr_test_parse("wilcoxon", &t), 0);
    ck_assert_int_eq(t, LR_TEST_WILCOXON);
    ck_assert_int_eq(lr_test_parse("ttest", &t), -1);
    ck_assert_str_eq(lr_test_name(LR_TEST_RANDOMIZATION), "randomization");
    ck_assert_int_eq(lr_correction_parse("bonferroni", &c), 0);
    ck_assert_int_eq(c, LR_CORRECT_BONFERRONI);
    ck_assert_int_eq(lr_correction_parse("fdr", &c), -1);
    ck_assert_str_eq(lr_correction_name(LR_CORRECT_HOLM), "holm");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("stats");
    tcase_add_test(tc, test_ttest_closed_form);
    tcase_add_test(tc, test_wilcoxon_exact_by_hand);
    tcase_add_test(tc, test_wilcoxon_normal_by_hand);
    tcase_add_test(tc, test_randomization_seeded);
    tcase_add_test(tc, test_bootstrap_constant);
    tcase_add_test(tc, test_p_adjust_by_hand);
    tcase_add_test(tc, test_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
