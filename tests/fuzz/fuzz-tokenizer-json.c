/* fuzz-tokenizer-json.c - tokenizer.json (and tokenizer_config.json),
 * then encoding and decoding with what was loaded.
 * Input: tokenizer.json [%% tokenizer_config.json [%% text]]. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    fuzz_parts p;
    fuzz_split(d, n, &p);
    lr_error e = {{0}};
    lr_tokenizer *t = lr_tokenizer_load(p.p[0], p.n[0], p.count > 1 ? p.p[1] : NULL, p.count > 1 ? p.n[1] : 0,
                                        "tokenizer.json", &e);
    if (!t) {
        fuzz_check_error(&e, "tokenizer.json");
        return 0;
    }
    const char *text = p.count > 2 ? p.p[2] : "Hello, world! 123 don't  stop\n\xc3\xa9t\xc3\xa9 \xe4\xb8\xad\xff";
    size_t len = p.count > 2 ? p.n[2] : strlen(text);
    lr_ids ids = {0};
    for (int special = 0; special < 2; special++) {
        ids.n = 0;
        if (lr_tokenize(t, text, len, special, &ids, &e) == 0) {
            int vocab = lr_tokenizer_vocab_size(t);
            for (size_t i = 0; i < ids.n; i++)
                if (ids.ids[i] < 0 || ids.ids[i] >= vocab) abort();   /* an id the model cannot embed */
            free(lr_detokenize(t, ids.ids, ids.n, special));
        } else {
            fuzz_check_error(&e, "tokenizer.json");
        }
    }
    free(ids.ids);
    int32_t probe[] = {-1, 0, 1, 2, 255, 256, 1 << 30, lr_tokenizer_vocab_size(t) - 1, lr_tokenizer_vocab_size(t)};
    free(lr_detokenize(t, probe, sizeof probe / sizeof *probe, false));
    for (size_t i = 0; i < sizeof probe / sizeof *probe; i++) lr_tokenizer_token(t, probe[i]);
    lr_tokenizer_bos_id(t);
    lr_tokenizer_eos_id(t);
    lr_tokenizer_free(t);
    return 0;
}
