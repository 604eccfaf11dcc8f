/* fuzz-text.c - texts to encode: corpus.jsonl, queries.jsonl or
 * id<TAB>text lines, the format found from the content. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    char path[64];
    int fd = fuzz_file(d, n, path, sizeof path);
    lr_error e = {{0}};
    lr_text_reader *r = lr_text_open(path, &e);
    if (!r) abort();
    lr_text t;
    int rc;
    while ((rc = lr_text_next(r, &t, &e)) == 1)
        if (!t.id || !t.text || strlen(t.text) > t.len) abort();
    if (rc < 0) fuzz_check_error(&e, path);
    lr_text_close(r);
    close(fd);
    return 0;
}
