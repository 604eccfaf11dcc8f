/* fuzz-stream.c - msgpack streams: the embeddings reader, the scores
 * reader, the generic reader with every record accessor, and teacher
 * embeddings (the same bytes as queries and passages). */
#include "fuzz.h"

#include <math.h>

static FILE *open_mem(const uint8_t *d, size_t n)
{
    FILE *f = n ? fmemopen((void *)d, n, "rb") : fopen("/dev/null", "rb");
    if (!f) abort();
    return f;
}

static void emb(const uint8_t *d, size_t n)
{
    FILE *f = open_mem(d, n);
    lr_error e = {{0}};
    lr_emb_reader *r = lr_emb_reader_open(f, "emb.mp", &e);
    if (r) {
        int dim = lr_emb_reader_header(r)->dim;
        float *v = malloc((size_t)dim * sizeof *v);
        const char *id;
        int rc;
        while ((rc = lr_emb_read(r, &id, v, &e)) == 1)
            for (int i = 0; i < dim; i++)
                if (!isfinite(v[i])) abort();   /* a vector no search can rank */
        if (rc < 0) fuzz_check_error(&e, "emb.mp: ");
        free(v);
        lr_emb_reader_close(r);
    } else {
        fuzz_check_error(&e, "emb.mp: ");
    }
    fclose(f);
}

static void scores(const uint8_t *d, size_t n)
{
    FILE *f = open_mem(d, n);
    lr_error e = {{0}};
    lr_scores *s = lr_scores_read(f, "scores.mp", &e);
    if (s) lr_scores_free(s);
    else fuzz_check_error(&e, "scores.mp: ");
    fclose(f);
}

static void generic(const uint8_t *d, size_t n)
{
    static const char *kinds[] = {"metrics", "embeddings", "scores"};
    FILE *f = open_mem(d, n);
    lr_error e = {{0}};
    lr_stream_reader *r = lr_stream_reader_open(f, "any.mp", kinds[n % 3], 1, &e);
    if (r) {
        const lr_record *rec;
        int rc;
        while ((rc = lr_stream_next(r, &rec, &e)) == 1) {
            for (int i = 0; i < lr_rec_nfields(rec); i++) {
                size_t klen;
                const char *k = lr_rec_key(rec, i, &klen);
                char key[64], buf[32];
                snprintf(key, sizeof key, "%.*s", (int)(klen < 63 ? klen : 63), k);
                int64_t iv;
                double dv;
                bool bv;
                const void *bin;
                size_t blen;
                float fv[4];
                lr_rec_int(rec, key, &iv, &e);
                lr_rec_float(rec, key, &dv, &e);
                lr_rec_bool(rec, key, &bv, &e);
                lr_rec_str(rec, key, buf, sizeof buf, &e);
                lr_rec_bin(rec, key, &bin, &blen, &e);
                lr_rec_f32(rec, key, fv, 4, &e);
                fuzz_check_error(&e, "any.mp: ");
            }
        }
        if (rc < 0) fuzz_check_error(&e, "any.mp: ");
        lr_stream_reader_close(r);
    } else {
        fuzz_check_error(&e, "any.mp: ");
    }
    fclose(f);
}

static void teacher(const uint8_t *d, size_t n)
{
    char path[64];
    int fd = fuzz_file(d, n, path, sizeof path);
    lr_error e = {{0}};
    lr_teacher *t = lr_teacher_load(path, path, &e);
    if (t) lr_teacher_free(t);
    else fuzz_check_error(&e, path);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    emb(d, n);
    scores(d, n);
    generic(d, n);
    teacher(d, n);
    return 0;
}
