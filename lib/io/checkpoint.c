/* checkpoint.c - load (directory, tar, stdin), look up, change, validate,
 * digest and write checkpoints. */
#include "config.h"
#include "io/checkpoint-int.h"
#include "io/schema.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define PRIV(ck) ((ck_priv *)(ck)->priv)

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

bool ck_is_weight_file(const char *name)
{
    static const char *ext[] = {".safetensors", ".index.json", ".bin", ".pt", ".pth",
                                ".ckpt", ".h5", ".msgpack", ".gguf", ".onnx"};
    for (size_t i = 0; i < LR_ARRAY_LEN(ext); i++)
        if (ends_with(name, ext[i])) return true;
    return false;
}

bool ck_is_safetensors(const char *name) { return ends_with(name, ".safetensors"); }

/* Files the loader reads by name: one that is not a regular file (a
 * FIFO, a device) is an error, not an absence. */
static bool is_read_by_name(const char *name)
{
    return !strcmp(name, "config.json") || !strcmp(name, "lr.json") || !strcmp(name, "tokenizer.json") ||
           !strcmp(name, "tokenizer_config.json") || ends_with(name, ".safetensors") ||
           ends_with(name, ".index.json");
}

static const char *file_kind(mode_t m)
{
    return S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device"
           : S_ISSOCK(m) ? "a socket" : S_ISDIR(m) ? "a directory" : "not a regular file";
}

/* Files kept at all: top level, not hidden (editor and temporary files). */
static bool is_kept(const char *name) { return name[0] != '.' && !strchr(name, '/'); }

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp(((const lr_tensor *)a)->name, ((const lr_tensor *)b)->name);
}

/* Index of tensor `name` or of its insertion point (negative - 1). */
static ptrdiff_t find_index(const lr_checkpoint *ck, const char *name)
{
    size_t lo = 0, hi = ck->n_tensors;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(ck->tensors[mid].name, name);
        if (c == 0) return (ptrdiff_t)mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -(ptrdiff_t)lo - 1;
}

lr_tensor *lr_checkpoint_tensor(const lr_checkpoint *ck, const char *name)
{
    ptrdiff_t i = find_index(ck, name);
    return i >= 0 ? &ck->tensors[i] : NULL;
}

lr_tensor *lr_checkpoint_layer_tensor(const lr_checkpoint *ck, int layer, const char *suffix)
{
    char name[256];
    snprintf(name, sizeof name, "model.layers.%d.%s", layer, suffix);
    return lr_checkpoint_tensor(ck, name);
}

const lr_file *lr_checkpoint_file(const lr_checkpoint *ck, const char *name)
{
    for (size_t i = 0; i < ck->n_files; i++)
        if (strcmp(ck->files[i].name, name) == 0) return &ck->files[i];
    return NULL;
}

/* ---------------- loading ---------------- */

/* List a directory: small files read, weight files left for mmap. */
static int dir_read(const char *dir, ck_blob **out, size_t *nout, lr_error *err)
{
    DIR *d = opendir(dir);
    if (!d) return lr_errorf(err, "%s: %s", dir, strerror(errno));
    ck_blob *b = NULL;
    size_t n = 0, cap = 0, total = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!is_kept(de->d_name)) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(path, &st) != 0) {
            if (errno == ENOENT || !is_read_by_name(de->d_name)) continue;   /* a dangling link */
            closedir(d);
            ck_blobs_free(b, n);
            return lr_errorf(err, "%s: %s", path, strerror(errno));
        }
        if (!S_ISREG(st.st_mode)) {
            if (!is_read_by_name(de->d_name)) continue;
            closedir(d);
            ck_blobs_free(b, n);
            return lr_errorf(err, "%s: %s, not a regular file", path, file_kind(st.st_mode));
        }
        bool weights = ck_is_weight_file(de->d_name) && !ends_with(de->d_name, ".json");
        if (!weights && (st.st_size > CK_MAX_FILE || (total += (size_t)st.st_size) > CK_MAX_FILES_TOTAL)) {
            closedir(d);
            ck_blobs_free(b, n);
            if (st.st_size > CK_MAX_FILE)
                return lr_errorf(err, "%s: %lld bytes, more than the limit of %d MiB for a file other than weights",
                                 path, (long long)st.st_size, CK_MAX_FILE >> 20);
            return lr_errorf(err, "%s: the files other than weights exceed %d MiB in all", path,
                             CK_MAX_FILES_TOTAL >> 20);
        }
        b = lr_grow(b, &cap, n + 1, sizeof *b);
        ck_blob *x = &b[n++];
        memset(x, 0, sizeof *x);
        x->name = lr_xstrdup(de->d_name);
        x->size = (size_t)st.st_size;
        if (weights) continue;   /* mapped later if used */
        x->data = lr_read_file(path, &x->size, err);
        if (!x->data) {
            closedir(d);
            ck_blobs_free(b, n);
            return -1;
        }
    }
    closedir(d);
    *out = b;
    *nout = n;
    return 0;
}

static int map_file(const char *path, ck_blob *x, lr_error *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return lr_errorf(err, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return lr_errorf(err, "%s: %s", path, strerror(errno));
    }
    x->size = (size_t)st.st_size;
    if (x->size == 0) {
        close(fd);
        x->data = lr_xcalloc(1, 1);
        return 0;
    }
    void *p = mmap(NULL, x->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return lr_errorf(err, "%s: mmap: %s", path, strerror(errno));
    x->data = p;
    x->mapped = true;
    x->map_len = x->size;
    return 0;
}

static ck_blob *find_blob(ck_blob *b, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (b[i].name && strcmp(b[i].name, name) == 0) return &b[i];
    return NULL;
}

static void member_name(char *buf, size_t n, const lr_checkpoint *ck, bool is_dir, const char *name)
{
    snprintf(buf, n, is_dir ? "%s/%s" : "%s: %s", ck->source, name);
}

static json_t *full_lr_json(const lr_checkpoint *ck)
{
    json_t *j = json_pack("{s:s,s:i}", "format", "lr-checkpoint", "version", 1);
    json_object_set_new(j, "layers", json_array());
    (void)ck;
    return j;
}

lr_checkpoint *lr_checkpoint_load(const char *path, lr_error *err)
{
    bool is_stdin = !path || strcmp(path, "-") == 0;
    lr_checkpoint *ck = lr_xcalloc(1, sizeof *ck);
    ck_priv *pv = lr_xcalloc(1, sizeof *pv);
    ck->priv = pv;
    ck->source = lr_xstrdup(is_stdin ? "stdin" : path);
    struct stat st;
    bool is_dir = !is_stdin && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    if (!is_stdin && !is_dir && stat(path, &st) != 0) {
        lr_errorf(err, "%s: %s", path, strerror(errno));
        goto fail;
    }
    ck_blob *b = NULL;
    size_t nb = 0;
    if (is_dir ? dir_read(path, &b, &nb, err) : ck_tar_read(path, ck->source, &b, &nb, err)) goto fail;
    pv->blobs = b;
    pv->n_blobs = nb;
    char what[4400];

    /* config.json */
    ck_blob *cj = find_blob(b, nb, "config.json");
    if (!cj) {
        lr_errorf(err, "%s: no config.json (not a Hugging Face checkpoint?)", ck->source);
        goto fail;
    }
    member_name(what, sizeof what, ck, is_dir, "config.json");
    if (ck_config_parse(cj->data, cj->size, what, &ck->cfg, err)) goto fail;

    /* Weight files: the sharded index if there is one, else model.safetensors. */
    const char **wnames = NULL;
    size_t nw = 0;
    json_t *index = NULL;
    ck_blob *ij = find_blob(b, nb, "model.safetensors.index.json");
    if (ij) {
        member_name(what, sizeof what, ck, is_dir, ij->name);
        index = lr_json_parse(ij->data, ij->size, what, err);
        if (!index) goto fail;
        json_t *wm = json_object_get(index, "weight_map");
        if (!json_is_object(wm)) {
            lr_errorf(err, "%s: missing \"weight_map\" object", what);
            json_decref(index);
            goto fail;
        }
        const char *k;
        json_t *v;
        wnames = lr_xcalloc(json_object_size(wm) + 1, sizeof *wnames);
        json_object_foreach(wm, k, v) {
            if (!json_is_string(v)) {
                lr_errorf(err, "%s: weight_map[\"%s\"] is not a file name", what, k);
                free(wnames);
                json_decref(index);
                goto fail;
            }
            size_t i;
            for (i = 0; i < nw; i++)
                if (strcmp(wnames[i], json_string_value(v)) == 0) break;
            if (i == nw) wnames[nw++] = json_string_value(v);
        }
    } else {
        wnames = lr_xcalloc(1, sizeof *wnames);
        wnames[nw++] = "model.safetensors";
    }
    size_t cap = 0;
    int rc = 0;
    for (size_t i = 0; i < nw && !rc; i++) {
        ck_blob *w = find_blob(b, nb, wnames[i]);
        member_name(what, sizeof what, ck, is_dir, wnames[i]);
        if (!w) {
            rc = lr_errorf(err, "%s: no %s%s", ck->source, wnames[i], ij ? " (named in model.safetensors.index.json)" : "");
            break;
        }
        if (!w->data && map_file(what, w, err)) rc = -1;
        else rc = ck_safetensors_parse(w->data, w->size, what, &ck->tensors, &ck->n_tensors, &cap, err);
        w->name[0] = 0;   /* mark as weight data (kept) */
    }
    free(wnames);
    if (!rc && index) {
        /* Every tensor the index names must exist. */
        json_t *wm = json_object_get(index, "weight_map");
        const char *k;
        json_t *v;
        if (ck->n_tensors) qsort(ck->tensors, ck->n_tensors, sizeof *ck->tensors, cmp_tensor_name);
        json_object_foreach(wm, k, v) {
            if (find_index(ck, k) < 0) {
                rc = lr_errorf(err, "%s: model.safetensors.index.json names tensor %s, absent from %s", ck->source, k,
                               json_string_value(v));
                break;
            }
        }
    }
    json_decref(index);
    if (rc) goto fail;

    /* Files: weights stay in blobs (named ""), the rest become files. */
    ck->files = lr_xcalloc(nb + 1, sizeof *ck->files);
    json_t *lrj = NULL;
    for (size_t i = 0; i < nb; i++) {
        ck_blob *x = &b[i];
        if (!x->name[0]) continue;
        if (ck_is_weight_file(x->name) || !is_kept(x->name)) {
            if (!x->mapped) free(x->data);
            x->data = NULL;
            continue;
        }
        if (strcmp(x->name, "lr.json") == 0) {
            member_name(what, sizeof what, ck, is_dir, "lr.json");
            lrj = lr_json_parse(x->data, x->size, what, err);
            if (!lrj) goto fail;
            free(x->data);
            x->data = NULL;
            continue;
        }
        lr_file *f = &ck->files[ck->n_files++];
        f->name = x->name;
        f->data = x->data;
        f->size = x->size;
        x->name = lr_xstrdup("");
        x->data = NULL;
    }
    /* Keep config.json first: writers emit files in this order. */
    for (size_t i = 1; i < ck->n_files; i++) {
        if (strcmp(ck->files[i].name, "config.json") == 0) {
            lr_file t = ck->files[i];
            memmove(&ck->files[1], &ck->files[0], i * sizeof *ck->files);
            ck->files[0] = t;
        }
    }

    /* Tensors: sorted by name; rotary caches of old exports are dropped;
     * data misaligned for its dtype is copied so readers may cast. */
    if (ck->n_tensors) qsort(ck->tensors, ck->n_tensors, sizeof *ck->tensors, cmp_tensor_name);
    for (size_t i = 0; i + 1 < ck->n_tensors; i++) {
        if (strcmp(ck->tensors[i].name, ck->tensors[i + 1].name) == 0) {
            lr_errorf(err, "%s: tensor %s appears twice", ck->source, ck->tensors[i].name);
            json_decref(lrj);
            goto fail;
        }
    }
    pv->cap_tensors = cap;
    pv->cap_owned = cap + 1;
    pv->owned = lr_xcalloc(pv->cap_owned, sizeof *pv->owned);
    size_t m = 0;
    for (size_t i = 0; i < ck->n_tensors; i++) {
        lr_tensor t = ck->tensors[i];
        if (ends_with(t.name, ".rotary_emb.inv_freq")) {
            free(t.name);
            continue;
        }
        if ((uintptr_t)t.data % lr_dtype_size(t.dtype)) {
            void *c = lr_xmalloc(t.nbytes);
            memcpy(c, t.data, t.nbytes);
            t.data = c;
            pv->owned[m] = true;
        }
        ck->tensors[m++] = t;
    }
    ck->n_tensors = m;

    /* Layout. */
    ck->layers = lr_xcalloc(ck->cfg.n_layers, sizeof *ck->layers);
    member_name(what, sizeof what, ck, is_dir, "lr.json");
    if (ck_layout_parse(lrj, &ck->cfg, what, ck->layers, err)) {
        json_decref(lrj);
        goto fail;
    }
    ck->lr_json = lrj ? lrj : full_lr_json(ck);
    if (lr_checkpoint_validate(ck, err)) goto fail;
    return ck;
fail:
    lr_checkpoint_free(ck);
    return NULL;
}

/* ---------------- creation ---------------- */

lr_checkpoint *lr_checkpoint_new(const char *config_json, size_t len, const char *what,
                                 uint64_t seed, lr_error *err)
{
    lr_config cfg;
    if (ck_config_parse(config_json, len, what, &cfg, err)) return NULL;
    json_t *j = json_loadb(config_json, len, 0, NULL);
    json_t *ir = json_object_get(j, "initializer_range");
    double sd = json_is_number(ir) ? json_number_value(ir) : 0.02;
    json_decref(j);

    lr_checkpoint *ck = lr_xcalloc(1, sizeof *ck);
    ck->priv = lr_xcalloc(1, sizeof(ck_priv));
    ck->source = lr_xstrdup(what);
    ck->cfg = cfg;
    ck->layers = lr_xcalloc(cfg.n_layers, sizeof *ck->layers);
    ck_layout_parse(NULL, &cfg, what, ck->layers, NULL);
    ck->lr_json = full_lr_json(ck);
    ck->files = lr_xcalloc(1, sizeof *ck->files);
    lr_checkpoint_set_file(ck, "config.json", config_json, len);

    /* every tensor of the schema in parameter order (the order of the
     * random draws), initialised as the schema says */
    lr_rng rng;
    lr_rng_seed(&rng, seed ^ 0x696e6974ULL);
    char name[160];
    for (int l = -1; l <= cfg.n_layers; l++) {
        /* l = -1: embeddings; 0 .. n_layers-1: the layers; then final norm, LM head */
        bool global = l < 0 || l == cfg.n_layers;
        const lr_tensor_spec *specs = global ? lr_global_tensors : lr_layer_tensors;
        int k0 = l < 0 ? LR_T_EMBED : global ? LR_T_NORM : 0;
        int k1 = l < 0 ? LR_T_EMBED + 1 : global ? LR_NG : LR_NT;
        for (int k = k0; k < k1; k++) {
            const lr_tensor_spec *sp = &specs[k];
            if (!lr_spec_present(sp, &cfg, global ? NULL : &ck->layers[l])) continue;
            int64_t shape[2];
            int nd = lr_spec_shape(sp, &cfg, cfg.intermediate, shape);
            size_t cnt = (size_t)shape[0] * (nd == 2 ? (size_t)shape[1] : 1);
            float *w = lr_xmalloc(cnt * sizeof(float));
            for (size_t i = 0; i < cnt; i++)
                w[i] = sp->init == LR_INIT_NORMAL ? (float)(sd * lr_rng_normal(&rng))
                       : sp->init == LR_INIT_ONES ? 1.0f : 0.0f;
            lr_checkpoint_set_tensor(ck, lr_spec_name(sp, l, name, sizeof name), LR_F32, nd, shape, w);
        }
    }
    if (lr_checkpoint_validate(ck, err)) {
        lr_checkpoint_free(ck);
        return NULL;
    }
    /* as loaded: the digests are those of the complete checkpoint */
    PRIV(ck)->digest[0] = PRIV(ck)->input_digest[0] = 0;
    return ck;
}

void lr_checkpoint_set_file(lr_checkpoint *ck, const char *name, const char *data, size_t size)
{
    char *copy = lr_xmalloc(size + 1);
    memcpy(copy, data, size);
    copy[size] = 0;
    for (size_t i = 0; i < ck->n_files; i++) {
        if (strcmp(ck->files[i].name, name) == 0) {
            free(ck->files[i].data);
            ck->files[i].data = copy;
            ck->files[i].size = size;
            return;
        }
    }
    ck->files = lr_xrealloc(ck->files, (ck->n_files + 1) * sizeof *ck->files);
    ck->files[ck->n_files++] = (lr_file){lr_xstrdup(name), copy, size};
}

void lr_checkpoint_free(lr_checkpoint *ck)
{
    if (!ck) return;
    ck_priv *pv = PRIV(ck);
    for (size_t i = 0; i < ck->n_tensors; i++) {
        if (pv->owned && pv->owned[i]) free(ck->tensors[i].data);
        free(ck->tensors[i].name);
    }
    free(ck->tensors);
    free(pv->owned);
    ck_blobs_free(pv->blobs, pv->n_blobs);
    for (size_t i = 0; i < ck->n_files; i++) {
        free(ck->files[i].name);
        free(ck->files[i].data);
    }
    free(ck->files);
    free(ck->layers);
    json_decref(ck->lr_json);
    free(ck->source);
    free(pv);
    free(ck);
}

/* ---------------- changes ---------------- */

void lr_checkpoint_touch(lr_checkpoint *ck)
{
    ck_priv *pv = PRIV(ck);
    if (!pv->input_digest[0]) memcpy(pv->input_digest, lr_checkpoint_digest(ck), 17);
    pv->digest[0] = 0;
}

int lr_checkpoint_remove_tensor(lr_checkpoint *ck, const char *name)
{
    ptrdiff_t i = find_index(ck, name);
    if (i < 0) return -1;
    lr_checkpoint_touch(ck);
    ck_priv *pv = PRIV(ck);
    if (pv->owned[i]) free(ck->tensors[i].data);
    free(ck->tensors[i].name);
    size_t rest = ck->n_tensors - (size_t)i - 1;
    memmove(&ck->tensors[i], &ck->tensors[i + 1], rest * sizeof *ck->tensors);
    memmove(&pv->owned[i], &pv->owned[i + 1], rest * sizeof *pv->owned);
    ck->n_tensors--;
    return 0;
}

void lr_checkpoint_set_tensor(lr_checkpoint *ck, const char *name, lr_dtype dtype, int ndim, const int64_t *shape,
                              void *data)
{
    lr_checkpoint_touch(ck);
    ck_priv *pv = PRIV(ck);
    ptrdiff_t i = find_index(ck, name);
    if (i >= 0) {
        if (pv->owned[i]) free(ck->tensors[i].data);
    } else {
        ck->tensors = lr_grow(ck->tensors, &pv->cap_tensors, ck->n_tensors + 1, sizeof *ck->tensors);
        pv->owned = lr_grow(pv->owned, &pv->cap_owned, ck->n_tensors + 1, sizeof *pv->owned);
        i = -i - 1;
        size_t rest = ck->n_tensors - (size_t)i;
        memmove(&ck->tensors[i + 1], &ck->tensors[i], rest * sizeof *ck->tensors);
        memmove(&pv->owned[i + 1], &pv->owned[i], rest * sizeof *pv->owned);
        ck->n_tensors++;
        ck->tensors[i].name = lr_xstrdup(name);
    }
    lr_tensor *t = &ck->tensors[i];
    if (ndim < 0 || ndim > 4) lr_die("lr_checkpoint_set_tensor: %s: %d dimensions", name, ndim);
    t->dtype = dtype;
    t->ndim = ndim;
    memset(t->shape, 0, sizeof t->shape);
    for (int k = 0; k < ndim; k++) t->shape[k] = shape[k];
    t->nbytes = (size_t)lr_tensor_numel(t) * lr_dtype_size(dtype);
    t->data = data;
    pv->owned[i] = true;
}

void lr_checkpoint_drop_data(lr_checkpoint *ck, const char *name)
{
    ptrdiff_t i = find_index(ck, name);
    if (i < 0) return;
    lr_checkpoint_touch(ck);   /* the input digest, while the data is there */
    ck_priv *pv = PRIV(ck);
    if (pv->owned[i]) free(ck->tensors[i].data);
    ck->tensors[i].data = NULL;
    pv->owned[i] = false;
    /* a weight file no tensor points into any more goes too */
    for (size_t b = 0; b < pv->n_blobs;) {
        const char *lo = pv->blobs[b].data, *hi = lo + pv->blobs[b].size;
        bool used = false;
        for (size_t k = 0; k < ck->n_tensors && !used; k++) {
            const char *d = ck->tensors[k].data;
            used = !pv->owned[k] && d && d >= lo && d <= hi;
        }
        if (used) {
            b++;
            continue;
        }
        ck_blob_release(&pv->blobs[b]);
        pv->blobs[b] = pv->blobs[--pv->n_blobs];
    }
}

/* ---------------- validation ---------------- */

static void fmt_shape(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

typedef struct {
    const lr_checkpoint *ck;
    bool *seen;
    lr_error *err;
} vctx;

static int expect(vctx *v, const char *why, const char *name, int ndim, int64_t d0, int64_t d1)
{
    int64_t want[2] = {d0, d1};
    char ws[64], hs[64];
    fmt_shape(ws, sizeof ws, ndim, want);
    ptrdiff_t i = find_index(v->ck, name);
    if (i < 0) return lr_errorf(v->err, "%s: tensor %s missing (expected shape %s from %s)", v->ck->source, name, ws, why);
    const lr_tensor *t = &v->ck->tensors[i];
    v->seen[i] = true;
    bool ok = t->ndim == ndim && t->shape[0] == d0 && (ndim < 2 || t->shape[1] == d1);
    if (!ok) {
        fmt_shape(hs, sizeof hs, t->ndim, t->shape);
        return lr_errorf(v->err, "%s: tensor %s has shape %s, expected %s from %s", v->ck->source, name, hs, ws, why);
    }
    return 0;
}

int lr_checkpoint_validate(const lr_checkpoint *ck, lr_error *err)
{
    const lr_config *c = &ck->cfg;
    vctx v = {ck, lr_xcalloc(ck->n_tensors + 1, 1), err};
    char n[256], why[64];
    int64_t shape[2];
    int rc = 0;
    for (int g = 0; g < LR_NG; g++) {
        const lr_tensor_spec *s = &lr_global_tensors[g];
        if (!lr_spec_present(s, c, NULL)) continue;
        int nd = lr_spec_shape(s, c, 0, shape);
        if ((rc = expect(&v, "config.json", s->name, nd, shape[0], shape[1]))) goto out;
    }
    for (int l = 0; l < c->n_layers; l++) {
        const lr_layer_layout *L = &ck->layers[l];
        for (int k = 0; k < LR_NT; k++) {
            const lr_tensor_spec *s = &lr_layer_tensors[k];
            if (!lr_spec_present(s, c, L)) continue;
            if (s->sub == LR_SUB_MLP)
                snprintf(why, sizeof why, "config.json and lr.json (mlp %d)", L->mlp);
            else
                snprintf(why, sizeof why, "config.json");
            int nd = lr_spec_shape(s, c, L->mlp, shape);
            if ((rc = expect(&v, why, lr_spec_name(s, l, n, sizeof n), nd, shape[0], shape[1]))) goto out;
        }
    }
    for (size_t i = 0; i < ck->n_tensors; i++) {
        if (v.seen[i]) continue;
        const char *name = ck->tensors[i].name;
        char hs[64], extra[160] = "";
        fmt_shape(hs, sizeof hs, ck->tensors[i].ndim, ck->tensors[i].shape);
        int l;
        char rest[200];
        if (sscanf(name, "model.layers.%d.%199s", &l, rest) == 2 && l >= 0 && l < c->n_layers) {
            bool attn = strncmp(rest, "self_attn.", 10) == 0 || strcmp(rest, "input_layernorm.weight") == 0;
            bool mlp = strncmp(rest, "mlp.", 4) == 0 || strcmp(rest, "post_attention_layernorm.weight") == 0;
            if (attn && !ck->layers[l].attn)
                snprintf(extra, sizeof extra, " (lr.json drops layer %d's attention)", l);
            else if (mlp && ck->layers[l].mlp == 0)
                snprintf(extra, sizeof extra, " (lr.json drops layer %d's MLP)", l);
        } else if (strcmp(name, lr_global_tensors[LR_T_HEAD].name) == 0 && c->tie_embeddings) {
            snprintf(extra, sizeof extra, " (config.json ties embeddings)");
        }
        rc = lr_errorf(err, "%s: unexpected tensor %s %s, expected none%s", ck->source, name, hs, extra);
        goto out;
    }
out:
    free(v.seen);
    return rc;
}

/* ---------------- digest and history ---------------- */

/* XXH64 (libxxhash) chained through its seed over the config line, the
 * layout and every tensor's name, metadata and bytes.  lr.json histories
 * record these values: the byte stream hashed must never change. */
const char *lr_checkpoint_digest(lr_checkpoint *ck)
{
    ck_priv *pv = PRIV(ck);
    if (pv->digest[0]) return pv->digest;
    const lr_config *c = &ck->cfg;
    char buf[1024];
    int len = snprintf(buf, sizeof buf,
                       "lr-digest 1\n%s %d %d %d %d %d %d %d %d %.17g %.17g %d %.17g %.17g %.17g %d %d %d %d %d %d %d\n",
                       c->model_type, c->hidden, c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim, c->intermediate,
                       c->vocab, c->max_pos, c->rms_eps, c->rope_theta, (int)c->rope_type, c->rope_factor,
                       c->rope_low_freq_factor, c->rope_high_freq_factor, c->rope_original_max_pos, c->tie_embeddings,
                       c->attn_bias, c->qk_norm, c->sliding_window, c->bos_id, c->eos_id);
    uint64_t h = XXH64(buf, (size_t)len, 0);
    for (int l = 0; l < c->n_layers; l++) {
        int32_t x[2] = {ck->layers[l].attn, ck->layers[l].mlp};
        h = XXH64(x, sizeof x, h);
    }
    for (size_t i = 0; i < ck->n_tensors; i++) {
        const lr_tensor *t = &ck->tensors[i];
        h = XXH64(t->name, strlen(t->name) + 1, h);
        int64_t meta[6] = {t->dtype, t->ndim, t->shape[0], t->shape[1], t->shape[2], t->shape[3]};
        h = XXH64(meta, sizeof meta, h);
        h = XXH64(t->data, t->nbytes, h);
    }
    snprintf(pv->digest, sizeof pv->digest, "%016llx", (unsigned long long)h);
    return pv->digest;
}

static const char *input_digest(lr_checkpoint *ck)
{
    ck_priv *pv = PRIV(ck);
    return pv->input_digest[0] ? pv->input_digest : lr_checkpoint_digest(ck);
}

void lr_checkpoint_add_history(lr_checkpoint *ck, int argc, char **argv)
{
    json_t *hist = json_object_get(ck->lr_json, "history");
    if (!json_is_array(hist)) {
        hist = json_array();
        json_object_set_new(ck->lr_json, "history", hist);
    }
    const char *tool = argc > 0 && argv[0] ? argv[0] : lr_progname();
    const char *slash = strrchr(tool, '/');
    if (slash) tool = slash + 1;
    json_t *args = json_array();
    for (int i = 1; i < argc; i++) json_array_append_new(args, json_string(argv[i] ? argv[i] : ""));
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_array_append_new(hist, json_pack("{s:s,s:o,s:s,s:s}", "tool", tool, "args", args, "time", ts, "input",
                                          input_digest(ck)));
}

/* ---------------- writing ---------------- */

static int put_entry(struct archive *a, const char *dest, const char *name, int64_t size, time_t mtime, lr_error *err)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, size);
    archive_entry_set_mtime(e, mtime, 0);
    int r = archive_write_header(a, e);
    archive_entry_free(e);
    if (r != ARCHIVE_OK) return lr_errorf(err, "%s: %s: %s", dest, name, archive_error_string(a));
    return 0;
}

static int put_data(struct archive *a, const char *dest, const char *name, const void *data, size_t n, lr_error *err)
{
    const char *p = data;
    while (n > 0) {
        size_t chunk = LR_MIN(n, (size_t)1 << 26);
        la_ssize_t w = archive_write_data(a, p, chunk);
        if (w <= 0) return lr_errorf(err, "%s: %s: write error: %s", dest, name, archive_error_string(a));
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static const lr_tensor *sort_base;
static int cmp_write_order(const void *a, const void *b)
{
    const lr_tensor *x = &sort_base[*(const size_t *)a], *y = &sort_base[*(const size_t *)b];
    size_t sx = lr_dtype_size(x->dtype), sy = lr_dtype_size(y->dtype);
    if (sx != sy) return sx > sy ? -1 : 1;   /* widest first keeps every tensor aligned */
    return strcmp(x->name, y->name);
}

/* dest names the output in messages. */
static int write_tar(lr_checkpoint *ck, FILE *out, const char *dest, lr_error *err)
{
    if (lr_checkpoint_validate(ck, err)) return -1;
    for (size_t i = 0; i < ck->n_tensors; i++)
        if (!ck->tensors[i].data && ck->tensors[i].nbytes)
            return lr_errorf(err, "tensor %s: its data was dropped and not set again", ck->tensors[i].name);
    /* lr.json layers follow the in-memory layout. */
    json_t *layers = json_array();
    for (int l = 0; l < ck->cfg.n_layers; l++)
        json_array_append_new(layers, json_pack("{s:b,s:i}", "attn", ck->layers[l].attn, "mlp", ck->layers[l].mlp));
    json_object_set_new(ck->lr_json, "format", json_string("lr-checkpoint"));
    json_object_set_new(ck->lr_json, "version", json_integer(1));
    json_object_set_new(ck->lr_json, "layers", layers);
    char *lrj = json_dumps(ck->lr_json, JSON_INDENT(1));
    if (!lrj) lr_die("out of memory (lr.json)");
    size_t lrj_len = strlen(lrj);
    lrj = lr_xrealloc(lrj, lrj_len + 2);
    lrj[lrj_len++] = '\n';
    lrj[lrj_len] = 0;

    size_t *order = lr_xmalloc((ck->n_tensors + 1) * sizeof *order);
    for (size_t i = 0; i < ck->n_tensors; i++) order[i] = i;
    sort_base = ck->tensors;
    qsort(order, ck->n_tensors, sizeof *order, cmp_write_order);
    size_t hlen;
    uint64_t total;
    char *header = ck_safetensors_header(ck->tensors, order, ck->n_tensors, &hlen, &total);

    time_t mtime = time(NULL);
    const char *sde = getenv("SOURCE_DATE_EPOCH");   /* reproducible builds */
    if (sde && *sde) mtime = (time_t)strtoll(sde, NULL, 10);

    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_set_bytes_per_block(a, 1 << 16);
    archive_write_set_bytes_in_last_block(a, 1);
    int rc = -1;
    if (archive_write_open_FILE(a, out) != ARCHIVE_OK) {
        lr_errorf(err, "%s: %s", dest, archive_error_string(a));
        goto out;
    }
    const lr_file *cfg = lr_checkpoint_file(ck, "config.json");
    if (!cfg) {
        lr_errorf(err, "%s: no config.json to write", ck->source);
        goto out;
    }
    if (put_entry(a, dest, "config.json", (int64_t)cfg->size, mtime, err) || put_data(a, dest, "config.json", cfg->data, cfg->size, err))
        goto out;
    if (put_entry(a, dest, "lr.json", (int64_t)lrj_len, mtime, err) || put_data(a, dest, "lr.json", lrj, lrj_len, err)) goto out;
    /* model.safetensors: header, then each tensor straight from memory. */
    if (put_entry(a, dest, "model.safetensors", (int64_t)total, mtime, err) ||
        put_data(a, dest, "model.safetensors", header, hlen, err))
        goto out;
    for (size_t k = 0; k < ck->n_tensors; k++) {
        const lr_tensor *t = &ck->tensors[order[k]];
        if (put_data(a, dest, "model.safetensors", t->data, t->nbytes, err)) goto out;
    }
    for (size_t i = 0; i < ck->n_files; i++) {
        const lr_file *f = &ck->files[i];
        if (strcmp(f->name, "config.json") == 0) continue;
        if (put_entry(a, dest, f->name, (int64_t)f->size, mtime, err) || put_data(a, dest, f->name, f->data, f->size, err))
            goto out;
    }
    if (archive_write_close(a) != ARCHIVE_OK) {
        lr_errorf(err, "%s: write error: %s", dest, archive_error_string(a));
        goto out;
    }
    rc = 0;
out:
    archive_write_free(a);
    free(header);
    free(order);
    free(lrj);
    return rc;
}

int lr_checkpoint_write(lr_checkpoint *ck, FILE *out, lr_error *err)
{
    return write_tar(ck, out, "output", err);
}

int lr_checkpoint_save(lr_checkpoint *ck, const char *path, lr_error *err)
{
    lr_out *o = lr_out_open(path, err);
    if (!o) return -1;
    if (write_tar(ck, o->fp, o->path ? o->path : "standard output", err)) {
        lr_out_abort(o);
        return -1;
    }
    return lr_out_commit(o, err);
}
