/* fuzz-safetensors.c - the safetensors header parser and dtype conversion. */
#include "fuzz.h"
#include "io/checkpoint-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    lr_tensor *t = NULL;
    size_t nt = 0, cap = 0;
    lr_error e = {{0}};
    if (ck_safetensors_parse(d, n, "model.safetensors", &t, &nt, &cap, &e) == 0) {
        float buf[64];
        for (size_t i = 0; i < nt; i++) {
            const unsigned char *p = t[i].data;
            size_t es = lr_dtype_size(t[i].dtype);
            if (p < d || p + t[i].nbytes > d + n || t[i].nbytes != (size_t)lr_tensor_numel(&t[i]) * es) abort();
            size_t k = t[i].nbytes / es < 64 ? t[i].nbytes / es : 64;
            lr_to_f32(t[i].dtype, p, buf, k);                              /* the first elements */
            lr_to_f32(t[i].dtype, p + t[i].nbytes - k * es, buf, k);       /* and the last */
            free(t[i].name);
        }
    } else {
        fuzz_check_error(&e, "model.safetensors: ");
    }
    free(t);
    return 0;
}
