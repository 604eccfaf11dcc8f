/* test-eval.c - streams (generic, embeddings), qrels/run readers, search, measures. */
#include "config.h"
#include "check-util.h"
#include "lr.h"

#include <math.h>
#include <unistd.h>

static char *lr_xstrdup_test(const char *s)
{
    char *p = strdup(s);
    ck_assert_ptr_nonnull(p);
    return p;
}

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

/* f (written, at its end) cut by its last `cut` bytes, as a new stream
 * at its start; f is closed. */
static FILE *cut_stream(FILE *f, long cut)
{
    long size = ftell(f);
    rewind(f);
    char *buf = malloc(size);
    ck_assert_int_eq(fread(buf, 1, size, f), size);
    fclose(f);
    f = memfile();
    fwrite(buf, 1, size - cut, f);
    rewind(f);
    free(buf);
    return f;
}

/* The whole stream at once: every record, in order, and on a truncated
 * stream an error with nothing handed back. */
START_TEST(test_emb_read_all)
{
    FILE *f = memfile();
    write_emb(f, "abc", 3, 2, 0);
    write_emb(f, "abc", 3, 3, 2);
    fflush(f);
    rewind(f);
    lr_error e;
    lr_emb_reader *r = lr_emb_reader_open(f, "t.mp", &e);
    ck_assert_ptr_nonnull(r);
    float *v;
    char **ids;
    size_t n;
    ck_assert_int_eq(lr_emb_read_all(r, &v, &ids, &n, &e), 0);
    ck_assert_uint_eq(n, 5);
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof want, "d%zu", i);
        ck_assert_str_eq(ids[i], want);
        for (int j = 0; j < 3; j++) ck_assert_float_eq(v[i * 3 + j], (float)i + j * 0.25f);
        free(ids[i]);
    }
    free(ids), free(v);
    lr_emb_reader_close(r);

    /* cut inside the last record */
    fseek(f, 0, SEEK_END);
    f = cut_stream(f, 5);
    r = lr_emb_reader_open(f, "t.mp", &e);
    ck_assert_ptr_nonnull(r);
    v = (float *)1, ids = (char **)1, n = 7;
    ck_assert_int_eq(lr_emb_read_all(r, &v, &ids, &n, &e), -1);
    ck_assert_msg(strstr(e.msg, "t.mp: record"), "%s", e.msg);
    ck_assert(v == (float *)1 && ids == (char **)1 && n == 7);
    lr_emb_reader_close(r);
    fclose(f);
}
END_TEST

START_TEST(test_emb_truncated)
{
    FILE *f = memfile();
    write_emb(f, "abc", 3, 4, 0);
    f = cut_stream(f, 5);
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

/* An empty key and an empty string (msgpack-c gives their data no
 * pointer) read as "" */
START_TEST(test_stream_empty_strings)
{
    FILE *f = memfile();
    lr_error e;
    lr_stream_writer *w = lr_stream_writer_new(f, "scores", 1, 0, &e);
    ck_assert_int_eq(lr_sw_end(w, &e), 0);
    lr_sw_begin(w, 2);
    lr_sw_str(w, "", "x");
    lr_sw_str(w, "e", "");
    ck_assert_int_eq(lr_sw_end(w, &e), 0);
    ck_assert_int_eq(lr_stream_writer_close(w, &e), 0);
    rewind(f);
    lr_stream_reader *r = lr_stream_reader_open(f, "s.mp", "scores", 1, &e);
    ck_assert_ptr_nonnull(r);
    const lr_record *rec;
    ck_assert_int_eq(lr_stream_next(r, &rec, &e), 1);
    size_t len;
    ck_assert_str_eq(lr_rec_key(rec, 0, &len), "");
    ck_assert_uint_eq(len, 0);
    char buf[4];
    ck_assert_int_eq(lr_rec_str(rec, "", buf, sizeof buf, &e), 0);
    ck_assert_str_eq(buf, "x");
    ck_assert_int_eq(lr_rec_str(rec, "e", buf, sizeof buf, &e), 0);
    ck_assert_str_eq(buf, "");
    ck_assert_ptr_nonnull(lr_rec_get(rec, "e")->s);
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


static char *write_tmp(const char *text)
{
    static char path[64];
    strcpy(path, "/tmp/lr-test-eval-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

/* A query worked by hand: qrels d1:2 d2:1 d3:0 d4:1; ranking
 * d3 (5), d9 (4, unjudged, before d2 by docno), d2 (4), d1 (3), d5 (1). */
START_TEST(test_measures_by_hand)
{
    lr_error e;
    char *qp = lr_xstrdup_test(write_tmp("q 0 d1 2\nq 0 d2 1\nq 0 d3 0\nq 0 d4 1\n"));
    char *rp = lr_xstrdup_test(write_tmp("q Q0 d1 1 3 t\nq Q0 d5 2 1 t\nq Q0 d2 3 4 t\n"
                                         "q Q0 d3 4 5 t\nq Q0 d9 5 4 t\n"));
    lr_trec *qr = lr_qrels_load(qp, &e), *run = lr_run_load(rp, &e);
    ck_assert_msg(qr && run, "%s", e.msg);
    ck_assert_str_eq(run->tag, "t");
    lr_measure *ms = NULL;
    int nm = 0;
    const char *specs[] = {"map", "recip_rank", "P.2,5", "recall.3,5", "ndcg_cut.3,5", "MRR@2", "MRR.3"};
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++)
        ck_assert_int_eq(lr_measures_add(&ms, &nm, specs[i], &e), 0);
    ck_assert_int_eq(nm, 10);
    lr_eval_result *r = lr_evaluate(qr, run, ms, nm, false, false, &e);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->nq, 1);
    double idcg = 2 + 1 / log2(3) + 1 / log2(4);
    struct { const char *name; double v; } want[] = {
        {"map", (1.0 / 3 + 2.0 / 4) / 3}, {"recip_rank", 1.0 / 3},
        {"P_2", 0}, {"P_5", 0.4}, {"recall_3", 1.0 / 3}, {"recall_5", 2.0 / 3},
        {"ndcg_cut_3", (1 / log2(4)) / idcg},
        {"ndcg_cut_5", (1 / log2(4) + 2 / log2(5)) / idcg},
        {"MRR@2", 0}, {"MRR@3", 1.0 / 3},
    };
    for (size_t w = 0; w < sizeof want / sizeof *want; w++) {
        int m;
        for (m = 0; m < nm; m++)
            if (!strcmp(r->measures[m].name, want[w].name)) break;
        ck_assert_msg(m < nm, "no %s", want[w].name);
        ck_assert_msg(fabs(r->values[m] - want[w].v) < 1e-12, "%s = %.6f, want %.6f",
                      want[w].name, r->values[m], want[w].v);
    }
    /* trec_eval's order: map, recip_rank, P, recall, ndcg_cut */
    ck_assert_str_eq(r->measures[0].name, "map");
    ck_assert_str_eq(r->measures[2].name, "P_2");
    lr_eval_result_free(r);
    /* -c: a second qrels query missing from the run halves the mean */
    lr_trec_free(qr);
    unlink(qp);
    free(qp);
    qp = lr_xstrdup_test(write_tmp("query-id\tcorpus-id\tscore\nq\td1\t2\nq\td2\t1\nq\td3\t0\n"
                                   "q\td4\t1\nz\td1\t1\n"));
    qr = lr_qrels_load(qp, &e);
    ck_assert_msg(qr != NULL, "%s", e.msg);
    ck_assert_int_eq(qr->n, 2);
    r = lr_evaluate(qr, run, ms, nm, true, false, &e);
    ck_assert_int_eq(r->n_avg, 2);
    ck_assert(fabs(r->mean[1] - 1.0 / 6) < 1e-12);
    lr_eval_result_free(r);
    free(ms);
    lr_trec_free(qr);
    lr_trec_free(run);
    unlink(qp);
    unlink(rp);
    free(qp);
    free(rp);
}
END_TEST

typedef struct { char id[16]; double s; } ref_hit;

static int cmp_ref(const void *a, const void *b)
{
    const ref_hit *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return strcmp(y->id, x->id);
}

/* The search against a brute-force double-precision ranking, on small
 * integer vectors (exact scores, many exact ties), for several block sizes. */
START_TEST(test_search_brute_force)
{
    enum { NQ = 7, ND = 300, DIM = 5, K = 10 };
    float q[NQ * DIM], d[ND * DIM];
    char idbuf[ND][16];
    const char *ids[ND];
    unsigned x = 12345;
    for (int i = 0; i < NQ * DIM; i++) q[i] = (float)((int)(((x = x * 1103515245 + 12345) >> 16) % 3) - 1);
    for (int i = 0; i < ND * DIM; i++) d[i] = (float)((int)(((x = x * 1103515245 + 12345) >> 16) % 3) - 1);
    for (int i = 0; i < ND; i++) {
        snprintf(idbuf[i], 16, "d%d", (i * 37) % ND);   /* ids not in input order */
        ids[i] = idbuf[i];
    }
    int blocks[] = {1, 7, 64, ND};
    for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++) {
        lr_search *s = lr_search_new(q, NQ, DIM, K, NULL, false);
        for (int at = 0; at < ND; at += blocks[b]) {
            int n = ND - at < blocks[b] ? ND - at : blocks[b];
            lr_search_add(s, d + (size_t)at * DIM, n, ids + at);
        }
        for (int i = 0; i < NQ; i++) {
            ref_hit ref[ND];
            for (int j = 0; j < ND; j++) {
                double sum = 0;
                for (int t = 0; t < DIM; t++) sum += (double)q[i * DIM + t] * d[j * DIM + t];
                strcpy(ref[j].id, ids[j]);
                ref[j].s = sum;
            }
            qsort(ref, ND, sizeof *ref, cmp_ref);
            const lr_hit *h;
            ck_assert_int_eq(lr_search_hits(s, i, &h), K);
            for (int j = 0; j < K; j++) {
                ck_assert_msg(!strcmp(h[j].docno, ref[j].id) && h[j].score == ref[j].s,
                              "block %d query %d rank %d: %s %g, want %s %g", blocks[b], i,
                              j + 1, h[j].docno, h[j].score, ref[j].id, ref[j].s);
            }
        }
        lr_search_free(s);
    }
}
END_TEST

START_TEST(test_measure_specs)
{
    lr_measure *ms = NULL;
    int nm = 0;
    lr_error e;
    ck_assert_int_eq(lr_measures_add(&ms, &nm, "P", &e), 0);
    ck_assert_int_eq(nm, 9);
    ck_assert_int_eq(lr_measures_add(&ms, &nm, "P.10", &e), 0);   /* duplicate */
    ck_assert_int_eq(nm, 9);
    ck_assert_int_eq(lr_measures_add(&ms, &nm, "map.5", &e), -1);
    ck_assert_int_eq(lr_measures_add(&ms, &nm, "ndcg_cut.0", &e), -1);
    ck_assert_int_eq(lr_measures_add(&ms, &nm, "ndcg", &e), -1);
    free(ms);
    ms = NULL;
    nm = 0;
    lr_measures_default(&ms, &nm);
    ck_assert_int_eq(nm, 4);
    ck_assert_str_eq(ms[0].name, "map");
    ck_assert_str_eq(ms[3].name, "ndcg_cut_10");
    free(ms);
}
END_TEST

/* Every truncation and many byte corruptions of a stream end in a clean
 * result or a clean error, never a crash (run under ASan in CI). */
START_TEST(test_emb_fuzz)
{
    FILE *f = memfile();
    write_emb(f, "abc", 3, 4, 0);
    long size = ftell(f);
    rewind(f);
    unsigned char *buf = malloc(size), *bad = malloc(size);
    ck_assert_int_eq(fread(buf, 1, size, f), size);
    fclose(f);
    unsigned x = 1;
    for (int iter = 0; iter < size + 2000; iter++) {
        long n = size;
        memcpy(bad, buf, size);
        if (iter < size) n = iter;   /* truncated */
        else {
            x = x * 1103515245 + 12345;
            bad[(x >> 8) % size] = (unsigned char)(x >> 20);
        }
        FILE *g = fmemopen(bad, n ? n : 1, "rb");
        if (n == 0) fgetc(g);
        lr_error e;
        e.msg[0] = 0;
        lr_emb_reader *r = lr_emb_reader_open(g, "fuzz.mp", &e);
        if (r) {
            const char *id;
            float v[3];
            int rc, dim = lr_emb_reader_header(r)->dim;
            float *vv = dim <= 3 ? v : malloc(dim * sizeof *vv);
            while ((rc = lr_emb_read(r, &id, vv, &e)) == 1) {}
            if (rc < 0) ck_assert_msg(!strncmp(e.msg, "fuzz.mp: ", 9), "%s", e.msg);
            if (vv != v) free(vv);
            lr_emb_reader_close(r);
        } else {
            ck_assert_msg(!strncmp(e.msg, "fuzz.mp: ", 9), "%s", e.msg);
        }
        fclose(g);
    }
    free(buf);
    free(bad);
}
END_TEST

/* A run with no entries loads as no topics (qsort is never handed the
 * NULL array of an empty run: undefined behaviour UBSan reports). */
START_TEST(test_empty_run)
{
    char path[] = "/tmp/lr-empty-run.XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "# nothing\n\n", 12), 12);
    close(fd);
    lr_error e = {{0}};
    lr_trec *t = lr_run_load(path, &e);
    unlink(path);
    ck_assert_msg(t != NULL, "%s", e.msg);
    ck_assert_int_eq(t->n, 0);
    ck_assert_ptr_null(lr_trec_find(t, "q1"));
    lr_trec_free(t);
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
    tcase_add_test(tc, test_emb_read_all);
    tcase_add_test(tc, test_generic_stream);
    tcase_add_test(tc, test_stream_empty_strings);
    tcase_add_test(tc, test_not_a_stream);
    tcase_add_test(tc, test_emb_fuzz);
    suite_add_tcase(s, tc);
    tc = tcase_create("eval");
    tcase_add_test(tc, test_measures_by_hand);
    tcase_add_test(tc, test_search_brute_force);
    tcase_add_test(tc, test_measure_specs);
    tcase_add_test(tc, test_empty_run);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return run_suite(suite()); }
