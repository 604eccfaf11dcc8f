/* retrieval.c - retrieval settings (lr.json "retrieval") and the ids of a
 * text for encoding. */
#include "config.h"
#include "internal.h"

#include <jansson.h>

static void defaults(lr_retrieval *r)
{
    r->pooling = LR_POOL_LAST;
    r->normalize = true;
    r->append_eos = true;
    r->query_prefix = lr_xstrdup("");
    r->passage_prefix = lr_xstrdup("");
    r->max_tokens = 512;
}

int lr_retrieval_from_checkpoint(const lr_checkpoint *ck, lr_retrieval *r, lr_error *err)
{
    memset(r, 0, sizeof *r);
    defaults(r);
    json_t *o = ck && ck->lr_json ? json_object_get(ck->lr_json, "retrieval") : NULL;
    if (!o) return 0;
    const char *src = ck->source ? ck->source : "checkpoint";
    if (!json_is_object(o)) {
        lr_errorf(err, "%s: lr.json: \"retrieval\" is not an object", src);
        goto fail;
    }
    json_t *v;
    if ((v = json_object_get(o, "pooling"))) {
        if (!json_is_string(v) || lr_pooling_parse(json_string_value(v), &r->pooling)) {
            lr_errorf(err, "%s: lr.json: retrieval.pooling: expected \"last\" or \"mean\"", src);
            goto fail;
        }
    }
    const struct { const char *key; bool *dst; } bools[] = {
        {"normalize", &r->normalize}, {"append_eos", &r->append_eos}};
    for (size_t i = 0; i < LR_ARRAY_LEN(bools); i++) {
        if (!(v = json_object_get(o, bools[i].key))) continue;
        if (!json_is_boolean(v)) {
            lr_errorf(err, "%s: lr.json: retrieval.%s: expected true or false", src, bools[i].key);
            goto fail;
        }
        *bools[i].dst = json_is_true(v);
    }
    const struct { const char *key; char **dst; } strs[] = {
        {"query_prefix", &r->query_prefix}, {"passage_prefix", &r->passage_prefix}};
    for (size_t i = 0; i < LR_ARRAY_LEN(strs); i++) {
        if (!(v = json_object_get(o, strs[i].key)) || json_is_null(v)) continue;
        if (!json_is_string(v)) {
            lr_errorf(err, "%s: lr.json: retrieval.%s: expected a string", src, strs[i].key);
            goto fail;
        }
        free(*strs[i].dst);
        *strs[i].dst = lr_xstrdup(json_string_value(v));
    }
    if ((v = json_object_get(o, "max_tokens"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1 << 24) {
            lr_errorf(err, "%s: lr.json: retrieval.max_tokens: expected a positive integer", src);
            goto fail;
        }
        r->max_tokens = (int)json_integer_value(v);
    }
    return 0;
fail:
    lr_retrieval_free(r);
    return -1;
}

void lr_retrieval_to_checkpoint(lr_checkpoint *ck, const lr_retrieval *r)
{
    if (!ck->lr_json) ck->lr_json = json_object();
    json_t *o = json_object();
    json_object_set_new(o, "pooling", json_string(lr_pooling_name(r->pooling)));
    json_object_set_new(o, "normalize", json_boolean(r->normalize));
    json_object_set_new(o, "append_eos", json_boolean(r->append_eos));
    json_object_set_new(o, "query_prefix", json_string(r->query_prefix ? r->query_prefix : ""));
    json_object_set_new(o, "passage_prefix", json_string(r->passage_prefix ? r->passage_prefix : ""));
    json_object_set_new(o, "max_tokens", json_integer(r->max_tokens));
    json_object_set_new(ck->lr_json, "retrieval", o);
}

void lr_retrieval_free(lr_retrieval *r)
{
    if (!r) return;
    free(r->query_prefix);
    free(r->passage_prefix);
    r->query_prefix = r->passage_prefix = NULL;
}

int lr_encode_text(const lr_tokenizer *t, const lr_retrieval *r, bool is_query, const char *text,
                   size_t len, lr_ids *out, lr_error *err)
{
    out->n = 0;
    const char *prefix = is_query ? r->query_prefix : r->passage_prefix;
    size_t pl = prefix ? strlen(prefix) : 0;
    int rc;
    if (pl) {
        char *buf = lr_xmalloc(pl + len + 1);
        memcpy(buf, prefix, pl);
        memcpy(buf + pl, text, len);
        buf[pl + len] = 0;
        rc = lr_tokenize(t, buf, pl + len, true, out, err);
        free(buf);
    } else {
        rc = lr_tokenize(t, text, len, true, out, err);
    }
    if (rc) return -1;
    size_t max = r->max_tokens > 0 ? (size_t)r->max_tokens : SIZE_MAX;
    if (r->append_eos) {
        int eos = lr_tokenizer_eos_id(t);
        if (eos < 0) return lr_errorf(err, "the tokenizer has no end-of-sequence token (use --no-eos)");
        /* a post-processor that appends EOS itself: keep one */
        if (out->n && out->ids[out->n - 1] == eos) out->n--;
        if (out->n > max - 1) out->n = max - 1;
        lr_ids_push(out, eos);
    } else if (out->n > max) {
        out->n = max;
    }
    if (!out->n) return lr_errorf(err, "the text has no tokens");
    return 0;
}

void lr_retrieval_override(lr_retrieval *r, const lr_retrieval_set *set)
{
    if (!set) return;
    if (set->query_prefix) free(r->query_prefix), r->query_prefix = lr_xstrdup(set->query_prefix);
    if (set->passage_prefix)
        free(r->passage_prefix), r->passage_prefix = lr_xstrdup(set->passage_prefix);
    if (set->pooling >= 0) r->pooling = (lr_pooling)set->pooling;
    if (set->normalize >= 0) r->normalize = set->normalize;
    if (set->append_eos >= 0) r->append_eos = set->append_eos;
    if (set->max_tokens > 0) r->max_tokens = set->max_tokens;
}
