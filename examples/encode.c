/* encode.c - rank passages for a query with liblr's encoder: texts in,
 * embeddings out, then dot products (the vectors are L2-normalised unless
 * the model's lr.json says otherwise).
 *
 *   cc encode.c $(pkg-config --cflags --libs lr) -o encode
 *   ./encode MODEL "what pulls the sea" "the moon pulls the oceans" "bees make honey"
 */
#include <lr.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL QUERY PASSAGE...\n", argv[0]);
        return 2;
    }
    lr_error err;
    lr_encoder *enc = lr_encoder_open(argv[1], NULL, &err);   /* the model's own settings */
    if (!enc) {
        fprintf(stderr, "%s: %s\n", argv[0], err.msg);
        return 1;
    }
    const int dim = lr_encoder_dim(enc), n = argc - 3;
    float *q = malloc(dim * sizeof(float)), *p = malloc((size_t)n * dim * sizeof(float));
    if (!q || !p) return 1;
    const char *const *passages = (const char *const *)argv + 3;
    if (lr_encoder_encode(enc, true, (const char *const *)argv + 2, 1, q, &err) ||
        lr_encoder_encode(enc, false, passages, n, p, &err)) {
        fprintf(stderr, "%s: %s\n", argv[0], err.msg);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int k = 0; k < dim; k++) s += (double)q[k] * p[(size_t)i * dim + k];
        printf("%.6f\t%s\n", s, passages[i]);
    }
    free(q);
    free(p);
    lr_encoder_free(enc);
    return 0;
}
