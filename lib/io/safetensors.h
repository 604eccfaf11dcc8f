/* safetensors.h - float32 safetensors files other than a checkpoint's
 * weights (the training state): writing named arrays, reading them back
 * by name.  Checkpoint weights go through checkpoint-int.h. */
#ifndef LR_SAFETENSORS_H
#define LR_SAFETENSORS_H
#include "internal.h"

struct json_t;

/* One float32 array and its name and shape. */
typedef struct lr_st_entry {
    const char *name;
    const float *data;
    int ndim;             /* 1 or 2 */
    int64_t shape[2];
} lr_st_entry;

/* Write header (keys sorted, meta as "__metadata__" when non-NULL) and
 * data of e[0..n) to f; `what` names f in the error. */
int lr_st_write_f32(FILE *f, const lr_st_entry *e, size_t n, struct json_t *meta,
                    const char *what, lr_error *err);
/* The header object of a safetensors file held in buf[0..len), NULL when
 * it has none; *data_at is where the data starts in buf. */
struct json_t *lr_st_header(const char *buf, size_t len, size_t *data_at);
/* The bytes of tensor `name` when it holds exactly n float32 values
 * inside buf (possibly unaligned: copy them out), else NULL. */
const void *lr_st_f32(struct json_t *header, const char *buf, size_t len, size_t data_at,
                      const char *name, int64_t n);

#endif
