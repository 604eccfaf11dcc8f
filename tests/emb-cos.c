/* emb-cos - the cosine of each vector of one embeddings stream to the
 * vector of the same id in another (same order), for the benchmarks:
 * prints the minimum and the mean.  Usage: emb-cos A.mp B.mp */
#include "config.h"
#include "lr.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static lr_emb_reader *open_stream(const char *path, FILE **f)
{
    lr_error err;
    *f = fopen(path, "rb");
    if (!*f) {
        fprintf(stderr, "emb-cos: %s: cannot open\n", path);
        exit(1);
    }
    lr_emb_reader *r = lr_emb_reader_open(*f, path, &err);
    if (!r) {
        fprintf(stderr, "emb-cos: %s\n", err.msg);
        exit(1);
    }
    return r;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: emb-cos A.mp B.mp\n");
        return 2;
    }
    FILE *fa, *fb;
    lr_emb_reader *a = open_stream(argv[1], &fa), *b = open_stream(argv[2], &fb);
    int dim = lr_emb_reader_header(a)->dim;
    if (lr_emb_reader_header(b)->dim != dim) {
        fprintf(stderr, "emb-cos: the streams differ in dimension\n");
        return 1;
    }
    float *va = malloc(sizeof(float) * dim), *vb = malloc(sizeof(float) * dim);
    double min = 2, sum = 0;
    long n = 0;
    lr_error err = {0};
    for (;;) {
        const char *ia, *ib;
        int ra = lr_emb_read(a, &ia, va, &err);
        if (ra < 0) {
            fprintf(stderr, "emb-cos: %s\n", err.msg);
            return 1;
        }
        char *id = ra ? strdup(ia) : NULL;
        int rb = lr_emb_read(b, &ib, vb, &err);
        if (rb < 0) {
            fprintf(stderr, "emb-cos: %s\n", err.msg);
            return 1;
        }
        if (ra != rb || (ra && strcmp(id, ib))) {
            fprintf(stderr, "emb-cos: the streams hold other ids or counts\n");
            return 1;
        }
        free(id);
        if (!ra) break;
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < dim; i++) {
            ab += (double)va[i] * vb[i];
            aa += (double)va[i] * va[i];
            bb += (double)vb[i] * vb[i];
        }
        double c = ab / sqrt(aa * bb);
        min = c < min ? c : min;
        sum += c;
        n++;
    }
    if (n == 0) {
        fprintf(stderr, "emb-cos: no vectors\n");
        return 1;
    }
    printf("min %.5f, mean %.5f over %ld texts\n", min, sum / n, n);
    return 0;
}
