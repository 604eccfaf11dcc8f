/* tokenizer.c - Hugging Face tokenizer.json (placeholder until the BPE lands). */
#include "config.h"
#include "internal.h"

void lr_ids_push(lr_ids *v, int32_t id)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 64;
        v->ids = lr_xrealloc(v->ids, v->cap * sizeof *v->ids);
    }
    v->ids[v->n++] = id;
}

lr_tokenizer *lr_tokenizer_load(const char *json, size_t len, const char *config_json,
                                size_t config_len, const char *what, lr_error *err)
{
    lr_errorf(err, "%s: tokenizer not implemented yet", what);
    return NULL;
}
lr_tokenizer *lr_tokenizer_load_file(const char *path, lr_error *err)
{
    return lr_tokenizer_load(NULL, 0, NULL, 0, path, err);
}
lr_tokenizer *lr_tokenizer_from_checkpoint(const lr_checkpoint *ck, lr_error *err)
{
    return lr_tokenizer_load(NULL, 0, NULL, 0, ck->source, err);
}
void lr_tokenizer_free(lr_tokenizer *t) { (void)t; }
int lr_tokenize(const lr_tokenizer *t, const char *text, size_t len, bool add_special,
                lr_ids *out, lr_error *err)
{
    return lr_errorf(err, "tokenizer not implemented yet");
}
char *lr_detokenize(const lr_tokenizer *t, const int32_t *ids, size_t n, bool skip_special)
{
    return lr_xstrdup("");
}
int lr_tokenizer_vocab_size(const lr_tokenizer *t) { return 0; }
int lr_tokenizer_token_id(const lr_tokenizer *t, const char *token) { return -1; }
const char *lr_tokenizer_token(const lr_tokenizer *t, int id) { return NULL; }
int lr_tokenizer_eos_id(const lr_tokenizer *t) { return -1; }
int lr_tokenizer_bos_id(const lr_tokenizer *t) { return -1; }
