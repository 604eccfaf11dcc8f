/* init.c - the random model lr-train --init starts from: a new
 * checkpoint of a config.json (lr_checkpoint_new) that carries the
 * tokenizer along. */
#include "config.h"
#include "internal.h"

#include <unistd.h>

/* Add the file at path to ck under name. */
static int carry(lr_checkpoint *ck, const char *name, const char *path, lr_error *err)
{
    size_t n;
    char *buf = lr_read_file(path, &n, err);
    if (!buf) return -1;
    lr_checkpoint_set_file(ck, name, buf, n);
    free(buf);
    return 0;
}

lr_checkpoint *lr_train_init_random(const char *config_path, const char *tokenizer_path,
                                    uint64_t seed, lr_error *err)
{
    size_t len;
    char *cfg = lr_read_file(config_path, &len, err);
    if (!cfg) return NULL;
    lr_checkpoint *ck = lr_checkpoint_new(cfg, len, config_path, seed, err);
    free(cfg);
    if (!ck) return NULL;
    /* the tokenizer must fit the vocabulary */
    lr_tokenizer *tok = lr_tokenizer_load_file(tokenizer_path, err);
    if (!tok) goto fail;
    int tv = lr_tokenizer_vocab_size(tok);
    lr_tokenizer_free(tok);
    if (tv > ck->cfg.vocab) {
        lr_errorf(err, "%s: vocab_size %d is smaller than the tokenizer's %d (%s)", config_path,
                  ck->cfg.vocab, tv, tokenizer_path);
        goto fail;
    }
    if (carry(ck, "tokenizer.json", tokenizer_path, err)) goto fail;
    /* tokenizer_config.json beside tokenizer.json, when there is one */
    char tc[4200];
    snprintf(tc, sizeof tc, "%s", tokenizer_path);
    char *slash = strrchr(tc, '/');
    snprintf(slash ? slash + 1 : tc, sizeof tc - (slash ? (size_t)(slash + 1 - tc) : 0),
             "tokenizer_config.json");
    if (access(tc, R_OK) == 0 && carry(ck, "tokenizer_config.json", tc, err)) goto fail;
    return ck;
fail:
    lr_checkpoint_free(ck);
    return NULL;
}
