/* fuzz-tokenize.c - encoding and decoding with real tokenizers, loaded
 * once from the files listed in LR_FUZZ_TOKENIZERS (colon-separated
 * tokenizer.json paths; tests/fuzz/run.sh sets it).
 * Input: byte 0 picks the tokenizer and the flags, the rest is text to
 * encode and, read as little-endian int32, ids to decode. */
#include "fuzz.h"

static lr_tokenizer *toks[8];
static int ntoks;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *list = getenv("LR_FUZZ_TOKENIZERS");
    if (!list || !*list) {
        fprintf(stderr, "fuzz-tokenize: set LR_FUZZ_TOKENIZERS to tokenizer.json paths (colon-separated)\n");
        exit(1);
    }
    char *s = strdup(list), *save = NULL;
    for (char *tok = strtok_r(s, ":", &save); tok && ntoks < 8; tok = strtok_r(NULL, ":", &save)) {
        lr_error e;
        if (!(toks[ntoks] = lr_tokenizer_load_file(tok, &e))) {
            fprintf(stderr, "fuzz-tokenize: %s\n", e.msg);
            exit(1);
        }
        ntoks++;
    }
    free(s);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    if (n < 1) return 0;
    const lr_tokenizer *t = toks[d[0] % ntoks];
    bool special = d[0] & 0x10, skip = d[0] & 0x20;
    const char *text = (const char *)d + 1;
    size_t len = n - 1;
    lr_ids ids = {0};
    lr_error e = {{0}};
    if (lr_tokenize(t, text, len, special, &ids, &e) != 0) abort();   /* any bytes are text */
    int vocab = lr_tokenizer_vocab_size(t);
    for (size_t i = 0; i < ids.n; i++)
        if (ids.ids[i] < 0 || ids.ids[i] >= vocab) abort();
    free(lr_detokenize(t, ids.ids, ids.n, skip));
    size_t m = len / 4;
    int32_t *raw = malloc((m ? m : 1) * sizeof *raw);
    memcpy(raw, text, m * 4);
    free(lr_detokenize(t, raw, m, skip));
    free(raw);
    free(ids.ids);
    return 0;
}
