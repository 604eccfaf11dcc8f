/* fuzz-config.c - config.json, then lr.json's layout against it.
 * Input: config.json [%% lr.json]. */
#include "fuzz.h"
#include "io/checkpoint-int.h"

#include <jansson.h>

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    fuzz_parts p;
    fuzz_split(d, n, &p);
    lr_config cfg;
    lr_error e = {{0}};
    if (ck_config_parse(p.p[0], p.n[0], "config.json", &cfg, &e) != 0) {
        fuzz_check_error(&e, "config.json: ");
        return 0;
    }
    if (cfg.n_layers < 1 || cfg.hidden < 1 || cfg.n_heads < 1 || cfg.head_dim < 1 || cfg.n_kv_heads < 1 ||
        cfg.n_heads % cfg.n_kv_heads)
        abort();   /* accepted but unusable */
    if (p.count < 2) return 0;
    json_t *j = lr_json_parse(p.p[1], p.n[1], "lr.json", &e);
    if (!j) {
        fuzz_check_error(&e, "lr.json: ");
        return 0;
    }
    lr_layer_layout *layers = calloc((size_t)cfg.n_layers, sizeof *layers);
    if (ck_layout_parse(j, &cfg, "lr.json", layers, &e) != 0) fuzz_check_error(&e, "lr.json: ");
    free(layers);
    json_decref(j);
    return 0;
}
