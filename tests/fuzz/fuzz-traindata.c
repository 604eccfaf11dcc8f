/* fuzz-traindata.c - training pairs (JSONL rows with query, positives and
 * negatives as texts, corpus ids or objects), a corpus, hard negatives.
 * Input: pairs [%% corpus.jsonl [%% negatives]]. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    fuzz_parts p;
    fuzz_split(d, n, &p);
    char path[3][64];
    int fd[3] = {-1, -1, -1};
    for (int i = 0; i < p.count && i < 3; i++) fd[i] = fuzz_file(p.p[i], p.n[i], path[i], sizeof path[i]);
    lr_error e = {{0}};
    lr_train_data *t = lr_train_data_load(path[0], p.count > 1 ? path[1] : NULL, p.count > 2 ? path[2] : NULL, &e);
    if (t) {
        for (size_t i = 0; i < t->n; i++)
            if (t->ex[i].n_pos < 1) abort();   /* a row without a positive */
        lr_train_data_free(t);
    } else if (strncmp(e.msg, "/proc/self/fd/", 14) != 0) {
        fprintf(stderr, "bad error message: \"%s\"\n", e.msg);
        abort();
    }
    for (int i = 0; i < 3; i++)
        if (fd[i] >= 0) close(fd[i]);
    return 0;
}
