/* surgery.c - depth surgery: drop whole attention or MLP sublayers. */
#include "config.h"
#include "io/checkpoint-int.h"
#include "io/schema.h"

int lr_drop_sublayers(lr_checkpoint *ck, const bool *drop_attn, const bool *drop_mlp, lr_error *err)
{
    int L = ck->cfg.n_layers;
    for (int l = 0; l < L; l++) {
        if (drop_attn && drop_attn[l] && !ck->layers[l].attn)
            return lr_errorf(err, "%s: layer %d's attention is already dropped", ck->source, l);
        if (drop_mlp && drop_mlp[l] && ck->layers[l].mlp == 0)
            return lr_errorf(err, "%s: layer %d's MLP is already dropped", ck->source, l);
    }
    lr_checkpoint_touch(ck);
    char name[256];
    for (int l = 0; l < L; l++) {
        bool attn = drop_attn && drop_attn[l], mlp = drop_mlp && drop_mlp[l];
        /* every tensor of a dropped sublayer, whether or not present */
        for (int k = 0; k < LR_NT; k++) {
            const lr_tensor_spec *s = &lr_layer_tensors[k];
            if ((s->sub == LR_SUB_ATTN && attn) || (s->sub == LR_SUB_MLP && mlp))
                lr_checkpoint_remove_tensor(ck, lr_spec_name(s, l, name, sizeof name));
        }
        if (attn) ck->layers[l].attn = false;
        if (mlp) ck->layers[l].mlp = 0;
    }
    return 0;
}
