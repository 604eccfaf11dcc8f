/* mkemb - write an embeddings stream from text, for the shell tests.
 * usage: mkemb DIM KIND [MODEL [POOLING [NORMALIZED]]] < lines "id v1 ... vDIM" */
#include "config.h"
#include "lr.h"

#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: mkemb DIM KIND [MODEL [POOLING [NORMALIZED]]]\n");
        return 2;
    }
    lr_emb_header h = {.dim = atoi(argv[1]), .normalized = argc > 5 ? atoi(argv[5]) : true};
    snprintf(h.kind, sizeof h.kind, "%s", argv[2]);
    snprintf(h.model, sizeof h.model, "%s", argc > 3 ? argv[3] : "");
    snprintf(h.pooling, sizeof h.pooling, "%s", argc > 4 ? argv[4] : "last");
    lr_error err;
    lr_emb_writer *w = lr_emb_writer_new(stdout, &h, &err);
    if (!w) {
        fprintf(stderr, "mkemb: %s\n", err.msg);
        return 1;
    }
    char id[256];
    float *v = calloc(h.dim, sizeof *v);
    while (scanf("%255s", id) == 1) {
        for (int i = 0; i < h.dim; i++)
            if (scanf("%f", &v[i]) != 1) {
                fprintf(stderr, "mkemb: %s: expected %d values\n", id, h.dim);
                return 1;
            }
        if (lr_emb_write(w, id, v, &err) < 0) {
            fprintf(stderr, "mkemb: %s\n", err.msg);
            return 1;
        }
    }
    free(v);
    return lr_emb_writer_close(w, &err) < 0;
}
