/* fuzz-checkpoint-tar.c - a checkpoint tar (any compression libarchive
 * reads): load, digest, tokenizer and retrieval settings, write back. */
#include "fuzz.h"

static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    if (!devnull && !(devnull = fopen("/dev/null", "wb"))) abort();
    char path[64];
    int fd = fuzz_file(d, n, path, sizeof path);
    lr_error e = {{0}};
    lr_checkpoint *ck = lr_checkpoint_load(path, &e);
    if (ck) {
        lr_checkpoint_digest(ck);
        lr_tokenizer *t = lr_tokenizer_from_checkpoint(ck, &e);
        if (t) {
            lr_ids ids = {0};
            if (lr_tokenize(t, "Hello, world!", 13, true, &ids, &e) == 0) free(lr_detokenize(t, ids.ids, ids.n, false));
            free(ids.ids);
            lr_tokenizer_free(t);
        }
        lr_retrieval r;
        if (lr_retrieval_from_checkpoint(ck, &r, &e) == 0) lr_retrieval_free(&r);
        if (lr_checkpoint_write(ck, devnull, &e) != 0) abort();
        lr_checkpoint_free(ck);
    } else {
        fuzz_check_error(&e, path);
    }
    close(fd);
    return 0;
}
