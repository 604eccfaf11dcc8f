/* bench-tokenizer-run.c - tokenizer throughput on one thread over a BEIR
 * corpus (title + " " + text per document) and tokenizer.json load time.
 * usage: bench-tokenizer-run TOKENIZER.json CORPUS.jsonl [REPEAT] */
#include "config.h"
#include "lr.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CPU time of this process: the machine may be shared, wall time inflated. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    lr_cli_init(argv[0]);
    if (argc < 3) lr_usage_error("usage: %s TOKENIZER.json CORPUS.jsonl [REPEAT]", argv[0]);
    int repeat = argc > 3 ? atoi(argv[3]) : 3;
    lr_error e;

    double best_load = 1e9, best_load_cpu = 1e9;
    lr_tokenizer *t = NULL;
    for (int r = 0; r < 3; r++) {
        double t0 = lr_now(), c0 = cpu_now();
        lr_tokenizer *x = lr_tokenizer_load_file(argv[1], &e);
        double dt = lr_now() - t0, dc = cpu_now() - c0;
        if (!x) lr_die("%s", e.msg);
        if (dt < best_load) best_load = dt;
        if (dc < best_load_cpu) best_load_cpu = dc;
        if (t) lr_tokenizer_free(t);
        t = x;
    }

    FILE *f = fopen(argv[2], "r");
    if (!f) lr_die("%s: cannot open", argv[2]);
    char **docs = NULL;
    size_t *lens = NULL, n = 0, bytes = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t l;
    while ((l = getline(&line, &cap, f)) > 0) {
        json_error_t je;
        json_t *j = json_loadb(line, (size_t)l, 0, &je);
        if (!j) lr_die("%s: line %zu: %s", argv[2], n + 1, je.text);
        const char *title = json_string_value(json_object_get(j, "title"));
        const char *text = json_string_value(json_object_get(j, "text"));
        size_t a = title ? strlen(title) : 0, b = text ? strlen(text) : 0;
        docs = realloc(docs, (n + 1) * sizeof *docs);
        lens = realloc(lens, (n + 1) * sizeof *lens);
        docs[n] = malloc(a + b + 2);
        memcpy(docs[n], title ? title : "", a);
        docs[n][a] = ' ';
        memcpy(docs[n] + a + 1, text ? text : "", b + 1);
        lens[n] = a + 1 + b;
        bytes += lens[n];
        n++;
        json_decref(j);
    }
    free(line);
    fclose(f);

    lr_ids v = {0};
    double best = 1e9, best_cpu = 1e9;
    size_t tokens = 0;
    for (int r = 0; r < repeat; r++) {
        tokens = 0;
        double t0 = lr_now(), c0 = cpu_now();
        for (size_t i = 0; i < n; i++) {
            v.n = 0;
            if (lr_tokenize(t, docs[i], lens[i], false, &v, &e)) lr_die("%s", e.msg);
            tokens += v.n;
        }
        double dt = lr_now() - t0, dc = cpu_now() - c0;
        if (dt < best) best = dt;
        if (dc < best_cpu) best_cpu = dc;
    }
    printf("%s: load %.3f s wall, %.3f s CPU (best of 3)\n", argv[1], best_load, best_load_cpu);
    printf("%s: %zu docs, %.1f MB, %zu tokens, one thread, best of %d:\n"
           "  wall %.3f s: %.2f M tokens/s, %.1f MB/s; CPU %.3f s: %.2f M tokens/s\n",
           argv[2], n, bytes / 1e6, tokens, repeat, best, tokens / best / 1e6, bytes / best / 1e6, best_cpu,
           tokens / best_cpu / 1e6);
    free(v.ids);
    for (size_t i = 0; i < n; i++) free(docs[i]);
    free(docs);
    free(lens);
    lr_tokenizer_free(t);
    return 0;
}
