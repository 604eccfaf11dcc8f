/* fuzz-trec.c - qrels and TREC runs, then every measure over them.
 * Input: qrels %% run. */
#include "fuzz.h"

static lr_measure *ms;
static int nm;

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    if (!ms) {
        lr_error e;
        const char *specs[] = {"map", "recip_rank", "P.1,5,10", "recall.1,100", "ndcg_cut.1,10,1000", "MRR@10"};
        for (size_t i = 0; i < sizeof specs / sizeof *specs; i++)
            if (lr_measures_add(&ms, &nm, specs[i], &e) != 0) abort();
    }
    fuzz_parts p;
    fuzz_split(d, n, &p);
    char qp[64], rp[64];
    int qfd = fuzz_file(p.p[0], p.n[0], qp, sizeof qp);
    int rfd = fuzz_file(p.count > 1 ? p.p[1] : "", p.count > 1 ? p.n[1] : 0, rp, sizeof rp);
    lr_error e = {{0}};
    lr_trec *q = lr_qrels_load(qp, &e);
    if (!q) fuzz_check_error(&e, qp);
    lr_trec *r = lr_run_load(rp, &e);
    if (!r) fuzz_check_error(&e, rp);
    if (q && r) {
        for (int mode = 0; mode < 4; mode++) {
            lr_eval_result *res = lr_evaluate(q, r, ms, nm, mode & 1, mode & 2, &e);
            if (!res) continue;
            for (int i = 0; i < res->nm; i++)
                if (!(res->mean[i] >= 0 && res->mean[i] <= 1)) abort();   /* every measure lies in [0, 1] */
            lr_eval_result_free(res);
        }
    }
    lr_trec_free(q);
    lr_trec_free(r);
    close(qfd);
    close(rfd);
    return 0;
}
