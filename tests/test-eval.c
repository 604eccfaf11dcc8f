/* test-eval.c - streams (generic, embeddings), qrels/run readers, search, measures. */
#include "config.h"
#include "check-util.h"
#include "lr.h"

#include <math.h>
#include <unistd.h>

static FILE *memfile(void)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    return f;
}

static void write_emb(FILE *f, const char *model, int dim, int n, int first)
{
    lr_error e;
    lr_emb_header h = {.dim = dim, .normalized = true};
    snprintf(h.model, sizeof h.model, "%s", model);
    strcpy(h.pooling, "last");
    strcpy(h.kind, "passage");
    lr_emb_writer *w = lr_emb_writer_new(f, &h, &e);
    ck_assert_ptr_nonnull(w);
    float v[16];
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "d%d", first + i);
        for (int j = 0; j < dim; j++) v[j] = (float)(first + i) + j * 0.25f;
        ck_assert_int_eq(lr_emb_write(w, id, v, &e), 0);
    }
    ck_assert_int_eq(lr_emb_writer_close(w, &e), 0);
}

START_TEST(test_emb_roundtrip_concat)
{
    FILE *f = memfile();
    write_emb(f, "abc", 3, 2, 0);
    write_emb(f, "abc", 3, 3, 2);   /* a second shard: identical header */
    rewind(f);
    lr_error e;
    lr_emb_reader *r = lr_emb_reader_open(f, "x.mp", &e);
    ck_assert_msg(r != NULL, "%s", e.msg);
    const lr_emb_header *h = lr_emb_reader_header(r);
    ck_assert_int_eq(h->dim, 3);
    ck_assert_str_eq(h->model, "abc");
    ck_assert_str_eq(h->pooling, "last");
    ck_assert_str_eq(h->kind, "passage");
    ck_assert(h->normalized);
    const char *id;
    float v[3];
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(lr_emb_read(r, &id, v, &e), 1);
        char want[32];
        snprintf(want, sizeof want, "d%d", i);
        ck_assert_str_eq(id, want);
        ck_assert(v[0] == (float)i && v[2] == (float)i + 0.5f);
    }
    ck_assert_int_eq(lr_emb_read(r, &id, v, &e), 0);
    lr_emb_reader_close(r);
    fclose(f);
}
END_TEST

START_TEST(test_emb_empty_and_different_header)
{
    FILE *f = memfile();
    write_emb(f, "abc", 3, 0, 0);
    rewind(f);
    lr_error e;
    lr_emb_reader *r = lr_emb_reader_open(f, "x.mp", &e);
    ck_assert_ptr_nonnull(r);
    const char *id;
    float v[3];
    ck_assert_int_eq(lr_emb_read(r, &id, v, &e), 0);
    lr_emb_reader_close(r);
    fclose(f);

    f = memfile();
    write_emb(f, "abc", 3, 2, 0);
    write_emb(f, "abd", 3, 2, 2);
    rewind(f);
    r = lr_emb_reader_open(f, "x.mp", &e);
    ck_assert_int_eq(lr_emb_read(r, &id, v, &e), 1);
    ck_assert_int_eq(lr_emb_read(r, &id, v, &e), 1);
    ck_assert_int_eq(lr_emb_read(r, &id, v, &e), -1);
    ck_assert_msg(strstr(e.msg, "x.mp: record 3: a different stream header"), "%s", e.msg);
    lr_emb_reader_close(r);
    fclose(f);
}
END_TEST

START_TEST(test_emb_truncated)
{
    FILE *f = memfile();
    write_emb(f, "abc", 3, 4, 0);
    long size = ftell(f);
    rewind(f);
    char *buf = malloc(size);
    ck_assert_int_eq(fread(buf, 1, size, f), size);
    fclose(f);
    f = memfile();
    fwrite(buf, 1, size - 5, f);
    rewind(f);
    free(buf);
    lr_error e;
    lr_emb_reader *r = lr_emb_reader_open(f, "t.mp", &e);
    ck_assert_ptr_nonnull(r);
    const char *id;
    float v[3];
    for (int i = 0; i < 3; i++) ck_assert_int_eq(lr_emb_read(r, &id, v, &e), 1);
    ck_assert_int_eq(lr_emb_read(r, &id, v, &e), -1);
    ck_assert_msg(strstr(e.msg, "t.mp: record 4: truncated"), "%s", e.msg);
    lr_emb_reader_close(r);
    fclose(f);
}
END_TEST

START_TEST(test_generic_stream)
{
    FILE *f = memfile();
    lr_error e;
    lr_stream_writer *w = lr_stream_writer_new(f, "scores", 1, 1, &e);
    lr_sw_str(w, "model", "m");
    ck_assert_int_eq(lr_sw_end(w, &e), 0);
    lr_sw_begin(w, 5);
    lr_sw_str(w, "qid", "q1");
    lr_sw_int(w, "n", -7);
    lr_sw_float(w, "s", 0.5);
    lr_sw_bool(w, "ok", true);
    float x[2] = {1.5f, -2};
    lr_sw_f32(w, "v", x, 2);
    ck_assert_int_eq(lr_sw_end(w, &e), 0);
    lr_sw_begin(w, 2);
    lr_sw_int(w, "n", 1);
    ck_assert_int_eq(lr_sw_end(w, &e), -1);   /* one field missing */
    ck_assert_int_eq(lr_stream_writer_close(w, &e), 0);
    rewind(f);

    lr_stream_reader *r = lr_stream_reader_open(f, "s.mp", "embeddings", 1, &e);
    ck_assert_ptr_null(r);
    ck_assert_msg(strstr(e.msg, "expected a lr.embeddings stream, found lr.scores"), "%s", e.msg);
    rewind(f);
    r = lr_stream_reader_open(f, "s.mp", "scores", 1, &e);
    ck_assert_ptr_nonnull(r);
    char buf[8];
    ck_assert_int_eq(lr_rec_str(lr_stream_header(r), "model", buf, sizeof buf, &e), 0);
    ck_assert_str_eq(buf, "m");
    const lr_record *rec;
    ck_assert_int_eq(lr_stream_next(r, &rec, &e), 1);
    int64_t n;
    double s;
    bool ok;
    float y[2];
    ck_assert_int_eq(lr_rec_int(rec, "n", &n, &e), 0);
    ck_assert_int_eq(n, -7);
    ck_assert_int_eq(lr_rec_float(rec, "s", &s, &e), 0);
    ck_assert(s == 0.5);
    ck_assert_int_eq(lr_rec_float(rec, "n", &s, &e), 0);   /* ints read as floats */
    ck_assert(s == -7);
    ck_assert_int_eq(lr_rec_bool(rec, "ok", &ok, &e), 0);
    ck_assert(ok);
    ck_assert_int_eq(lr_rec_f32(rec, "v", y, 2, &e), 0);
    ck_assert(y[0] == 1.5f && y[1] == -2);
    ck_assert_int_eq(lr_rec_f32(rec, "v", y, 1, &e), -1);
    ck_assert_int_eq(lr_rec_int(rec, "qid", &n, &e), -1);
    ck_assert_str_eq(e.msg, "s.mp: record 1: key \"qid\": expected integer, found string");
    ck_assert_int_eq(lr_rec_int(rec, "zz", &n, &e), -1);
    ck_assert_str_eq(e.msg, "s.mp: record 1: missing key \"zz\"");
    ck_assert_ptr_null(lr_rec_get(rec, "zz"));
    lr_stream_reader_close(r);
    fclose(f);
}
END_TEST

START_TEST(test_not_a_stream)
{
    FILE *f = memfile();
    fputs("hello world\n", f);
    rewind(f);
    lr_error e;
    ck_assert_ptr_null(lr_emb_reader_open(f, "h.txt", &e));
    ck_assert_msg(strncmp(e.msg, "h.txt: ", 7) == 0, "%s", e.msg);
    fclose(f);
    f = memfile();
    ck_assert_ptr_null(lr_emb_reader_open(f, "empty.mp", &e));
    ck_assert_msg(strstr(e.msg, "empty.mp: empty input"), "%s", e.msg);
    fclose(f);
}
END_TEST

/* EVAL_TESTS */

static Suite *suite(void)
{
    Suite *s = suite_create("eval");
    TCase *tc = tcase_create("streams");
    tcase_add_test(tc, test_emb_roundtrip_concat);
    tcase_add_test(tc, test_emb_empty_and_different_header);
    tcase_add_test(tc, test_emb_truncated);
    tcase_add_test(tc, test_generic_stream);
    tcase_add_test(tc, test_not_a_stream);
    suite_add_tcase(s, tc);
    /* EVAL_TCASES */
    return s;
}

int main(void) { return run_suite(suite()); }
