/* checkpoint-int.h - private pieces shared by the checkpoint sources. */
#ifndef LR_CHECKPOINT_INT_H
#define LR_CHECKPOINT_INT_H
#include "internal.h"

struct json_t;

/* One file of a checkpoint held in memory (tar member) or mapped
 * read-only (directory).  `data` is NUL-terminated when owned. */
typedef struct ck_blob {
    char *name;        /* path inside the checkpoint, e.g. "config.json" */
    void *data;
    size_t size;
    bool mapped;       /* munmap on free, else free() */
    size_t map_len;
} ck_blob;

typedef struct ck_priv {
    ck_blob *blobs;          /* weight files backing tensor data */
    size_t n_blobs;
    bool *owned;             /* per tensor: data malloc'ed by us */
    size_t cap_tensors, cap_owned;
    char digest[17];         /* cached; "" when stale */
    char input_digest[17];   /* digest as loaded; "" until computed */
} ck_priv;

/* Limits on what a checkpoint makes us hold (lr-formats(5)): a
 * safetensors header; each file other than weights (config.json,
 * tokenizer.json, ...); all of those together. */
#define CK_MAX_SAFETENSORS_HEADER (100u << 20)
#define CK_MAX_FILE (64 << 20)
#define CK_MAX_FILES_TOTAL (256 << 20)

/* Weight files and their indexes (never passed through: a written
 * checkpoint carries its own model.safetensors); safetensors files. */
bool ck_is_weight_file(const char *name);
bool ck_is_safetensors(const char *name);

/* tar.c: read the usable regular members of a tar (file path, or stdin
 * when path is NULL or "-") into memory, within the limits above; names
 * normalised ("./" and one common top directory stripped). */
int ck_tar_read(const char *path, const char *what, ck_blob **blobs, size_t *n, lr_error *err);
void ck_blobs_free(ck_blob *b, size_t n);
void ck_blob_release(ck_blob *b);   /* one blob's data and name */

/* safetensors.c */
/* Parse and validate a safetensors file held in `data`; append its
 * tensors (pointing into data) to *tensors.  `what` names the file. */
int ck_safetensors_parse(const void *data, size_t size, const char *what,
                         lr_tensor **tensors, size_t *n, size_t *cap, lr_error *err);
/* Bytes of tensor data a safetensors header (the JSON, hlen bytes)
 * declares: the largest data_offsets end; -1 when it is not a JSON object. */
int ck_safetensors_extent(const char *header, size_t hlen, uint64_t *extent);
/* Header of a safetensors file for tensors in order `order`; returns the
 * malloc'ed header (length prefix included, padded to 8 bytes), its
 * length, and the total file size. */
char *ck_safetensors_header(const lr_tensor *t, const size_t *order, size_t n,
                            size_t *hlen, uint64_t *total);

/* config.c */
int ck_config_parse(const char *buf, size_t len, const char *what, lr_config *cfg, lr_error *err);
/* Read lr.json "layers" into layers[cfg->n_layers]; json may be NULL
 * (full layout). */
int ck_layout_parse(struct json_t *j, const lr_config *cfg, const char *what,
                    lr_layer_layout *layers, lr_error *err);

#endif
