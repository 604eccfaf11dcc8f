/* surgery.c - depth surgery: drop whole attention or MLP sublayers. */
#include "config.h"
#include "io/checkpoint-int.h"

int lr_drop_sublayers(lr_checkpoint *ck, const bool *drop_attn, const bool *drop_mlp, lr_error *err)
{
    int L = ck->cfg.n_layers;
    for (int l = 0; l < L; l++) {
        if (drop_attn && drop_attn[l] && !ck->layers[l].attn)
            return lr_errorf(err, "%s: layer %d's attention is already dropped", ck->source, l);
        if (drop_mlp && drop_mlp[l] && ck->layers[l].mlp == 0)
            return lr_errorf(err, "%s: layer %d's MLP is already dropped", ck->source, l);
    }
    static const char *attn[] = {"input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
                                 "self_attn.v_proj.weight", "self_attn.o_proj.weight", "self_attn.q_proj.bias",
                                 "self_attn.k_proj.bias", "self_attn.v_proj.bias", "self_attn.q_norm.weight",
                                 "self_attn.k_norm.weight"};
    static const char *mlp[] = {"post_attention_layernorm.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
                                "mlp.down_proj.weight"};
    lr_checkpoint_touch(ck);
    char name[256];
    for (int l = 0; l < L; l++) {
        if (drop_attn && drop_attn[l]) {
            for (size_t k = 0; k < LR_ARRAY_LEN(attn); k++) {
                snprintf(name, sizeof name, "model.layers.%d.%s", l, attn[k]);
                lr_checkpoint_remove_tensor(ck, name);
            }
            ck->layers[l].attn = false;
        }
        if (drop_mlp && drop_mlp[l]) {
            for (size_t k = 0; k < LR_ARRAY_LEN(mlp); k++) {
                snprintf(name, sizeof name, "model.layers.%d.%s", l, mlp[k]);
                lr_checkpoint_remove_tensor(ck, name);
            }
            ck->layers[l].mlp = 0;
        }
    }
    return 0;
}
