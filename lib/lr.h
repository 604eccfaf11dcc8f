/*
 * lr.h - the public interface of liblr.
 *
 * liblr turns decoder LLM checkpoints (Llama, Mistral, Qwen2, Qwen3 in
 * Hugging Face layout) into dense retrievers, compresses them EffiR-style
 * and measures them.  The lr-* tools are thin shells over this library.
 *
 * Conventions:
 *  - Functions that can fail take an `lr_error *err` (may be NULL) and
 *    return -1 or NULL on failure with a one-line message in err->msg that
 *    names the file, the place and what was expected.
 *  - Objects are created by lr_<thing>_new/_load/_open and released by
 *    lr_<thing>_free/_close; freeing NULL is a no-op.
 *  - Vectors are float32; tensors keep their stored dtype until converted.
 *
 * Each module owns one section below.
 */
#ifndef LR_H
#define LR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* liblr.so exports exactly what this header declares: the library is
 * built with hidden visibility, and these declarations are visible. */
#pragma GCC visibility push(default)

/* ===================================================================
 * util: errors, allocation, CLI helpers, atomic output, progress, JSON,
 * files, random numbers (lib/util/)
 * =================================================================== */
/* ---- util module ---- */

typedef struct lr_error {
    char msg[1024];
} lr_error;

/* Set err->msg from a printf-style format; returns -1 so callers can
 * `return lr_errorf(err, ...)`.  Safe with err == NULL. */
int lr_errorf(lr_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prefix an existing message: "prefix: old message". Returns -1. */
int lr_error_prefix(lr_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

const char *lr_version(void);

/* --- CLI helpers (every tool) --- */
/* Record the program name used in messages ("lr-eval"). */
void lr_cli_init(const char *argv0);
const char *lr_progname(void);
/* Print "prog: message" and exit(1) (runtime error). */
void lr_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Print "prog: message; try 'prog --help'" on one line, exit(2) (usage
 * error). */
void lr_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* getopt_long without getopt's own messages: an unknown option, a missing
 * or unexpected argument is a one-line usage error naming the option. */
struct option;
int lr_getopt(int argc, char *const *argv, const char *shortopts, const struct option *longopts);
void lr_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "prog (lr) VERSION" and exit(0). */
void lr_print_version(void) __attribute__((noreturn));
/* Parse helpers for option values; on error they call lr_usage_error
 * naming the option. */
long lr_parse_long(const char *opt, const char *s, long min, long max);
double lr_parse_double(const char *opt, const char *s);
/* Parse "1,5,7" or "1-3,8" into a sorted, deduplicated array of ints in
 * [0, max). Returns count; *out malloc'ed. Usage error on bad input. */
int lr_parse_int_list(const char *opt, const char *s, int max, int **out);
/* Parse "I/N" (0 <= I < N). */
void lr_parse_shard(const char *opt, const char *s, int *index, int *count);

/* --- atomic output: never leave a partial file behind ---
 * lr_out_open("-" or NULL) writes to stdout directly, and a device or FIFO
 * is written in place; any other path (a symbolic link: its target) is
 * written as an unnamed file in the same directory (O_TMPFILE) that
 * lr_out_commit() links into place, so a killed process leaves nothing.
 * Where the file system has no O_TMPFILE, a hidden temporary file is
 * renamed into place instead; lr_out_abort(), exit and SIGINT, SIGTERM,
 * SIGHUP or SIGPIPE remove it. */
typedef struct lr_out {
    FILE *fp;
    char *path;     /* final path (links followed), NULL for stdout */
    char *tmppath;  /* named temporary, NULL for stdout, in place or unnamed */
    bool unnamed;   /* O_TMPFILE: linked to path at commit */
} lr_out;
lr_out *lr_out_open(const char *path, lr_error *err);
int lr_out_commit(lr_out *o, lr_error *err);   /* flush, fsync, rename, free */
void lr_out_abort(lr_out *o);                  /* unlink temporary, free */
/* The suite's one rule for binary output (tars, msgpack streams): when it
 * would go to standard output (path NULL or "-") and that is a terminal,
 * a usage error naming `what` (exit 2).  Call before reading any input. */
void lr_refuse_binary_tty(const char *path, const char *what);

/* --- progress on stderr: a bar with rate and ETA on a terminal,
 * a plain line every few seconds otherwise; silent with quiet. --- */
typedef struct lr_progress lr_progress;
lr_progress *lr_progress_new(const char *what, int64_t total, bool quiet);
/* Advance by `items` (e.g. documents) and `tokens` (may be 0). */
void lr_progress_add(lr_progress *p, int64_t items, int64_t tokens);
/* Free-form status suffix shown after the rate (e.g. "loss 0.123"). */
void lr_progress_note(lr_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void lr_progress_done(lr_progress *p);   /* final line, free */

double lr_now(void);   /* monotonic seconds */

/* --- small JSON helpers (jansson underneath) --- */
struct json_t;
/* Parse a whole buffer; error names `what` and the line/column. */
struct json_t *lr_json_parse(const char *buf, size_t len, const char *what, lr_error *err);
struct json_t *lr_json_load_file(const char *path, lr_error *err);

/* --- growable arrays ---
 * p holds *cap elements of `size` bytes; lr_grow returns p, or p
 * reallocated with room for at least `need` elements (the capacity
 * doubles, from 16) with *cap updated.  Out of memory is fatal.
 *     v = lr_grow(v, &cap, n + 1, sizeof *v);  v[n++] = x; */
void *lr_grow_to(void *p, size_t *cap, size_t need, size_t size);
static inline void *lr_grow(void *p, size_t *cap, size_t need, size_t size)
{
    return need <= *cap ? p : lr_grow_to(p, cap, need, size);
}

/* --- file helpers --- */
/* Read a whole file ("-" = stdin). Returns malloc'ed buffer + NUL. */
char *lr_read_file(const char *path, size_t *len, lr_error *err);

/* --- deterministic random numbers (splitmix64 / xoshiro256**) --- */
typedef struct lr_rng { uint64_t s[4]; } lr_rng;
void lr_rng_seed(lr_rng *r, uint64_t seed);
uint64_t lr_rng_next(lr_rng *r);
double lr_rng_uniform(lr_rng *r);          /* [0, 1) */
double lr_rng_normal(lr_rng *r);
void lr_rng_shuffle(lr_rng *r, int *a, size_t n);
/* ---- end util ---- */

/* ===================================================================
 * kernels: the worker pool, threads and the BLIS GEMM (lib/kernels/)
 * =================================================================== */
/* ---- kernels module ---- */
/* lr_threads_init(n): n <= 0 means all online cores.  Selects a BLIS
 * sub-configuration that the CPU supports (skx on AVX-512, haswell on
 * AVX2) unless BLIS_ARCH_TYPE names one (skx, zen3, haswell, generic, ...,
 * or its arch_t number; an unknown one, or one the CPU cannot run, is a
 * one-line error and exit 1), then sets the thread count: the caller and
 * n - 1 workers of lr's pool, which take the blocks of a product and the
 * chunks of the elementwise loops, and sleep when idle (BLIS runs one
 * thread per block).  lr starts no other threads.
 * Must run before the first BLIS call. Returns the thread count. */
int lr_threads_init(int n);
int lr_threads(void);
const char *lr_blas_arch(void);   /* name of the BLIS sub-configuration in use */

/* Row-major single-precision GEMM:
 * C[m x n] = alpha * op(A) * op(B) + beta * C, where op(X) = X or X^T.
 * lda/ldb/ldc are row strides. */
void lr_sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb, float beta,
              float *c, int ldc);
/* ---- end kernels ---- */

/* ===================================================================
 * io: checkpoints (tar, directory, safetensors, config.json, lr.json)
 * and msgpack streams (embeddings, scores, metrics) (lib/io/)
 * =================================================================== */
/* ---- io module ---- */
/* --- checkpoints --- */

typedef enum lr_dtype { LR_F32 = 0, LR_BF16 = 1, LR_F16 = 2 } lr_dtype;
size_t lr_dtype_size(lr_dtype t);
const char *lr_dtype_name(lr_dtype t);   /* "F32", "BF16", "F16" */

typedef struct lr_tensor {
    char *name;            /* Hugging Face name, e.g. model.layers.0.mlp.up_proj.weight */
    lr_dtype dtype;
    int ndim;
    int64_t shape[4];
    size_t nbytes;
    void *data;            /* stored little-endian bytes (owned by the checkpoint) */
} lr_tensor;

int64_t lr_tensor_numel(const lr_tensor *t);
/* Convert n elements of any dtype to float32 (and back). */
void lr_to_f32(lr_dtype t, const void *src, float *dst, size_t n);
void lr_from_f32(lr_dtype t, const float *src, void *dst, size_t n);

typedef enum { LR_ROPE_DEFAULT = 0, LR_ROPE_LLAMA3 = 1 } lr_rope_type;

typedef struct lr_config {
    char model_type[16];     /* llama, mistral, qwen2, qwen3 */
    int hidden;              /* hidden_size */
    int n_layers;            /* num_hidden_layers */
    int n_heads;             /* num_attention_heads */
    int n_kv_heads;          /* num_key_value_heads */
    int head_dim;            /* head_dim or hidden / heads */
    int intermediate;        /* intermediate_size (full width) */
    int vocab;               /* vocab_size */
    int max_pos;             /* max_position_embeddings */
    double rms_eps;          /* rms_norm_eps */
    double rope_theta;
    lr_rope_type rope_type;  /* rope_scaling.rope_type */
    double rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_original_max_pos;
    bool tie_embeddings;     /* tie_word_embeddings */
    bool attn_bias;          /* q/k/v biases (qwen2, or attention_bias) */
    bool qk_norm;            /* per-head q/k RMSNorm (qwen3) */
    int sliding_window;      /* 0 = none */
    int bos_id, eos_id;      /* -1 when absent */
} lr_config;

/* Per-layer layout of lr.json: attention present, MLP width (0 = dropped). */
typedef struct lr_layer_layout {
    bool attn;
    int mlp;
} lr_layer_layout;

/* A file carried through untouched (tokenizer.json, generation_config, ...). */
typedef struct lr_file {
    char *name;
    char *data;     /* NUL-terminated copy */
    size_t size;
} lr_file;

typedef struct lr_checkpoint {
    char *source;              /* path or "stdin", for messages */
    lr_config cfg;
    lr_layer_layout *layers;   /* cfg.n_layers entries */
    struct json_t *lr_json;    /* lr.json object (created if absent) */
    lr_tensor *tensors;
    size_t n_tensors;
    lr_file *files;            /* config.json and every passthrough file */
    size_t n_files;
    void *priv;                /* mappings and buffers */
} lr_checkpoint;

/* Load from an unpacked HF directory, a tar file, or a tar on stdin
 * (path NULL or "-").  Validates config.json, every safetensors header
 * and the agreement of tensors, config and lr.json before returning. */
lr_checkpoint *lr_checkpoint_load(const char *path, lr_error *err);
void lr_checkpoint_free(lr_checkpoint *ck);
/* A new checkpoint in memory from config.json text (`what` names it):
 * every tensor of its model in float32, initialised as Hugging Face does
 * (weights normal(0, initializer_range, default 0.02) drawn from seed,
 * norms 1, biases 0), the full layout, config.json as its one file. */
lr_checkpoint *lr_checkpoint_new(const char *config_json, size_t len, const char *what,
                                 uint64_t seed, lr_error *err);
/* Add or replace a file carried through (tokenizer.json, ...): a copy. */
void lr_checkpoint_set_file(lr_checkpoint *ck, const char *name, const char *data, size_t size);
/* Tensor by full name, or NULL when absent. */
lr_tensor *lr_checkpoint_tensor(const lr_checkpoint *ck, const char *name);
/* Tensor "model.layers.<layer>.<suffix>", e.g. suffix "mlp.up_proj.weight". */
lr_tensor *lr_checkpoint_layer_tensor(const lr_checkpoint *ck, int layer, const char *suffix);
/* A passthrough file (tokenizer.json, ...) by name, or NULL. */
const lr_file *lr_checkpoint_file(const lr_checkpoint *ck, const char *name);
/* Surgery: remove a tensor; replace (or add) one, taking ownership of
 * malloc'ed data in the given dtype. */
int lr_checkpoint_remove_tensor(lr_checkpoint *ck, const char *name);
void lr_checkpoint_set_tensor(lr_checkpoint *ck, const char *name, lr_dtype dtype,
                              int ndim, const int64_t *shape, void *data);
/* Check tensors against cfg and layers (after surgery, before writing). */
int lr_checkpoint_validate(const lr_checkpoint *ck, lr_error *err);
/* Append {tool, args, time, input digest} to lr.json's "history". */
void lr_checkpoint_add_history(lr_checkpoint *ck, int argc, char **argv);
/* Write the checkpoint as a tar (config.json, model.safetensors, lr.json,
 * passthrough files); lr_checkpoint_save writes to path or stdout ("-" or
 * NULL) through lr_out, so a failure leaves no partial file. */
int lr_checkpoint_write(lr_checkpoint *ck, FILE *out, lr_error *err);
int lr_checkpoint_save(lr_checkpoint *ck, const char *path, lr_error *err);
/* 16 hex digits identifying config + layout + tensor contents; streams
 * carry it in their headers so that mismatched inputs are refused. */
const char *lr_checkpoint_digest(lr_checkpoint *ck);
/* Notes on the calls above:
 *  - tensors are kept sorted by name; set_tensor and remove_tensor may
 *    move them, so re-fetch lr_tensor pointers after either;
 *  - tensor data loaded from a directory is a read-only mapping: change
 *    a tensor through lr_checkpoint_set_tensor, never in place;
 *  - config.json is written as read; the layout lives in ck->layers and
 *    is copied into lr.json's "layers" on writing;
 *  - the digest is cached: call lr_checkpoint_touch() before changing
 *    ck->cfg, ck->layers or tensor data directly (set_tensor,
 *    remove_tensor and lr_drop_sublayers do it themselves).  The digest
 *    the checkpoint had when loaded is what add_history records. */
void lr_checkpoint_touch(lr_checkpoint *ck);

/* --- msgpack streams ---
 * A stream is a sequence of msgpack maps; the first is a header
 * {"stream": "lr.<kind>", "version": 1, ...}.  Readers accept a repeated
 * identical header (concatenated shards) and refuse a different one.
 * Vectors are msgpack bin of little-endian float32. */

/* --- generic writer (over a FILE*, not closed by the writer) ---
 * A record is a map of n fields: lr_sw_begin(w, n) then n lr_sw_* calls.
 * Write errors are sticky and reported by lr_sw_end / lr_stream_writer_close. */
typedef struct lr_stream_writer lr_stream_writer;
/* Writes the header's first two fields ("stream": "lr.<kind>",
 * "version": version) of a map of 2 + n_extra fields; add the n_extra
 * fields with lr_sw_* and finish with lr_sw_end. */
lr_stream_writer *lr_stream_writer_new(FILE *f, const char *kind, int version,
                                       int n_extra, lr_error *err);
void lr_sw_begin(lr_stream_writer *w, int n_fields);
void lr_sw_str(lr_stream_writer *w, const char *key, const char *val);
void lr_sw_int(lr_stream_writer *w, const char *key, int64_t val);
void lr_sw_float(lr_stream_writer *w, const char *key, double val);  /* float64 */
void lr_sw_bool(lr_stream_writer *w, const char *key, bool val);
void lr_sw_nil(lr_stream_writer *w, const char *key);
void lr_sw_bin(lr_stream_writer *w, const char *key, const void *data, size_t len);
/* n floats as bin of little-endian float32 */
void lr_sw_f32(lr_stream_writer *w, const char *key, const float *v, size_t n);
/* End of a record (checks the field count); -1 on a write error. */
int lr_sw_end(lr_stream_writer *w, lr_error *err);
/* Flush; returns -1 if any write failed. Frees w; does not fclose. */
int lr_stream_writer_close(lr_stream_writer *w, lr_error *err);

/* --- generic reader (incremental; over a FILE*, not closed) --- */
typedef enum lr_mp_type {
    LR_MP_NIL, LR_MP_BOOL, LR_MP_INT, LR_MP_FLOAT, LR_MP_STR, LR_MP_BIN,
    LR_MP_OTHER   /* arrays, maps, ext: not used by lr streams */
} lr_mp_type;
typedef struct lr_mp_value {
    lr_mp_type type;
    bool b;                /* LR_MP_BOOL */
    int64_t i;             /* LR_MP_INT (uint64 above INT64_MAX is refused) */
    double f;              /* LR_MP_FLOAT, and LR_MP_INT converted */
    const char *s;         /* LR_MP_STR, LR_MP_BIN: data (not NUL-terminated) */
    size_t len;
} lr_mp_value;
typedef struct lr_stream_reader lr_stream_reader;
typedef struct lr_record lr_record;   /* one map: the header or a record */
/* Reads and checks the header ("stream" must be "lr.<kind>", "version"
 * must be <= max_version).  `what` names the input in messages (path or
 * "stdin"). */
lr_stream_reader *lr_stream_reader_open(FILE *f, const char *what, const char *kind,
                                        int max_version, lr_error *err);
const lr_record *lr_stream_header(const lr_stream_reader *r);
/* 1 = record in *rec (valid until the next call), 0 = clean end,
 * -1 = error (truncated or malformed data, a different header): the
 * message names the input and the record number. */
int lr_stream_next(lr_stream_reader *r, const lr_record **rec, lr_error *err);
int64_t lr_stream_record_no(const lr_stream_reader *r);   /* 1-based, last read */
const char *lr_stream_what(const lr_stream_reader *r);
void lr_stream_reader_close(lr_stream_reader *r);         /* does not fclose */

/* Access to a record's fields.  lr_rec_get returns NULL when absent.  The
 * typed getters fail with "INPUT: record N: key \"K\": ..." when the key
 * is absent or of another type (lr_rec_float accepts integers too;
 * lr_rec_str copies at most size-1 bytes and fails if longer). */
int lr_rec_nfields(const lr_record *rec);
const char *lr_rec_key(const lr_record *rec, int i, size_t *len);
const lr_mp_value *lr_rec_value(const lr_record *rec, int i);
const lr_mp_value *lr_rec_get(const lr_record *rec, const char *key);
int lr_rec_str(const lr_record *rec, const char *key, char *buf, size_t size, lr_error *err);
int lr_rec_strp(const lr_record *rec, const char *key, const char **s, size_t *len, lr_error *err);
int lr_rec_int(const lr_record *rec, const char *key, int64_t *v, lr_error *err);
int lr_rec_float(const lr_record *rec, const char *key, double *v, lr_error *err);
int lr_rec_bool(const lr_record *rec, const char *key, bool *v, lr_error *err);
int lr_rec_bin(const lr_record *rec, const char *key, const void **p, size_t *len, lr_error *err);
/* bin of exactly n little-endian float32, converted into dst */
int lr_rec_f32(const lr_record *rec, const char *key, float *dst, size_t n, lr_error *err);
/* Build an error message prefixed with "INPUT: record N: ". Returns -1. */
int lr_rec_errorf(const lr_record *rec, lr_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --- embeddings stream ("lr.embeddings", version 1) ---
 * header: model (str), dim (int), pooling (str), normalized (bool),
 * kind (str); records {"id": str, "vec": bin of dim float32}.
 * A header-only stream is valid. */
typedef struct lr_emb_header {
    char model[64];      /* model digest (lr_checkpoint_digest) or "" */
    int dim;
    char pooling[16];    /* "last" | "mean" */
    bool normalized;
    char kind[16];       /* "query" | "passage" */
} lr_emb_header;
typedef struct lr_emb_writer lr_emb_writer;
lr_emb_writer *lr_emb_writer_new(FILE *f, const lr_emb_header *h, lr_error *err); /* writes the header */
int lr_emb_write(lr_emb_writer *w, const char *id, const float *vec, lr_error *err);
int lr_emb_writer_close(lr_emb_writer *w, lr_error *err);   /* flushes; does not fclose */
typedef struct lr_emb_reader lr_emb_reader;
lr_emb_reader *lr_emb_reader_open(FILE *f, const char *what, lr_error *err);   /* reads the header */
const lr_emb_header *lr_emb_reader_header(const lr_emb_reader *r);
/* 1 = record, 0 = clean end of stream, -1 = error. *id valid until the next call; vec gets dim floats. */
int lr_emb_read(lr_emb_reader *r, const char **id, float *vec, lr_error *err);
/* The rest of the stream in memory: *n records, their vectors in *vecs (n x dim)
 * and their ids in *ids (the caller frees each id, then both arrays); 0, or -1
 * with nothing allocated. */
int lr_emb_read_all(lr_emb_reader *r, float **vecs, char ***ids, size_t *n, lr_error *err);
void lr_emb_reader_close(lr_emb_reader *r);   /* does not fclose */

/* --- metrics stream ("lr.metrics", version 1) ---
 * header: qrels (str), run (str: run file or query/doc streams),
 * queries (int: number averaged), complete (bool: -c);
 * records {"measure": str, "query": str ("all" for the mean), "value": float}. */
lr_stream_writer *lr_metrics_writer_new(FILE *f, const char *qrels, const char *run,
                                        int64_t queries, bool complete, lr_error *err);
int lr_metrics_write(lr_stream_writer *w, const char *measure, const char *query,
                     double value, lr_error *err);
/* ---- end io ---- */

/* ===================================================================
 * text: Hugging Face tokenizer.json (BPE, byte-level, Metaspace) and
 * the texts to encode (lib/text/)
 * =================================================================== */
/* ---- text module ---- */
typedef struct lr_tokenizer lr_tokenizer;
/* Supported: model BPE (byte-level as Qwen2/Llama 3, or SentencePiece-style
 * with byte fallback as Llama 2/Mistral; ignore_merges), normalizers
 * NFC/NFD/NFKC/NFKD/Prepend/Replace/Lowercase/Strip/Sequence, pre-tokenizers
 * Split/ByteLevel/Metaspace/Digits/Whitespace/WhitespaceSplit/Sequence, added
 * tokens (lstrip, rstrip, single_word, normalized), post-processors
 * TemplateProcessing/Bert/Roberta/ByteLevel/Sequence, decoders ByteLevel,
 * Metaspace, ByteFallback, Fuse, Strip, Replace, Sequence.  Any other
 * component type is refused at load with an error naming it.
 *
 * Invalid UTF-8 in input text is not an error: each maximal invalid byte
 * sequence becomes U+FFFD, as Hugging Face's lossy decoding of bytes does. */
typedef struct lr_ids { int32_t *ids; size_t n, cap; } lr_ids;   /* growable; free with free(ids.ids) */
/* Append one id, growing the array. */
void lr_ids_push(lr_ids *v, int32_t id);
/* Load from tokenizer.json text; config_json (nullable) is tokenizer_config.json
 * text, whose add_bos_token/add_eos_token flags it honours.  `what` names the
 * source in messages. */
lr_tokenizer *lr_tokenizer_load(const char *json, size_t len, const char *config_json,
                                size_t config_len, const char *what, lr_error *err);
/* Load tokenizer.json at path (and tokenizer_config.json next to it when present). */
lr_tokenizer *lr_tokenizer_load_file(const char *path, lr_error *err);
/* From a checkpoint's passthrough files "tokenizer.json" / "tokenizer_config.json".
 * Error when tokenizer.json is missing. */
lr_tokenizer *lr_tokenizer_from_checkpoint(const lr_checkpoint *ck, lr_error *err);
void lr_tokenizer_free(lr_tokenizer *t);
/* Append the ids of text[0..len) to out (out->n is not reset: callers reset it).
 * add_special: apply the post-processor (BOS/EOS template) as Hugging Face's
 * add_special_tokens=True.  Safe to call concurrently from several threads
 * on the same tokenizer.  Returns 0, or -1 with err set. */
int lr_tokenize(const lr_tokenizer *t, const char *text, size_t len, bool add_special,
                lr_ids *out, lr_error *err);
/* Decode ids to a malloc'ed UTF-8 string (skip_special as Hugging Face's
 * skip_special_tokens).  Unknown ids are skipped; byte sequences that do not
 * form valid UTF-8 become U+FFFD. */
char *lr_detokenize(const lr_tokenizer *t, const int32_t *ids, size_t n, bool skip_special);
int lr_tokenizer_vocab_size(const lr_tokenizer *t);     /* incl. added tokens: max id + 1 */
int lr_tokenizer_token_id(const lr_tokenizer *t, const char *token);  /* -1 if none */
/* Token string of an id (vocabulary or added token), NULL if none. */
const char *lr_tokenizer_token(const lr_tokenizer *t, int id);
/* From the post-processor, tokenizer_config.json or added tokens; -1 if none. */
int lr_tokenizer_eos_id(const lr_tokenizer *t);
int lr_tokenizer_bos_id(const lr_tokenizer *t);

/* Text inputs: BEIR corpus.jsonl (_id, title, text; "title text" when the
 * title is non-empty), queries.jsonl (_id, text), or id<TAB>text lines;
 * the format is chosen from the content (first non-blank byte '{' = JSON
 * lines).  Errors name the file and line. */
typedef struct lr_text { char *id; char *text; size_t len; } lr_text;
typedef struct lr_text_reader lr_text_reader;
lr_text_reader *lr_text_open(const char *path, lr_error *err);   /* "-" = stdin */
/* 1 = a text in *out (valid until the next call), 0 = end, -1 = error. */
int lr_text_next(lr_text_reader *r, lr_text *out, lr_error *err);
int64_t lr_text_line(const lr_text_reader *r);   /* line number of the last text */
void lr_text_close(lr_text_reader *r);
/* ---- end text ---- */

/* ===================================================================
 * eval: qrels, runs, exact search, trec_eval measures, paired
 * significance tests (lib/eval/)
 * =================================================================== */
/* ---- eval module ---- */
/* Qrels and runs: per-query lists of (docno, value), queries sorted by
 * qid and entries by docno (strcmp order), duplicates refused. */
typedef struct lr_topic {
    char *qid;
    int n;
    char **docno;
    double *value;       /* relevance (qrels) or score (run) */
} lr_topic;
typedef struct lr_trec {
    char *path;          /* for messages */
    int n;
    lr_topic *topics;
    char *tag;           /* run tag of the last line (runs) */
} lr_trec;
/* Qrels in TREC (`qid iter docno rel`) or BEIR (`query-id corpus-id
 * score`, optional header line) layout, detected from the first line.
 * Relevance values are integers; negative ones mean "judged, unusable"
 * as in trec_eval. */
lr_trec *lr_qrels_load(const char *path, lr_error *err);
/* TREC run `qid Q0 docno rank score tag` (extra fields ignored, '#'
 * comment lines skipped); the rank column is ignored, as trec_eval does.
 * A docno listed twice for one query is an error (trec_eval refuses it). */
lr_trec *lr_run_load(const char *path, lr_error *err);
const lr_topic *lr_trec_find(const lr_trec *t, const char *qid);
void lr_trec_free(lr_trec *t);
/* Merge the runs of disjoint shards of one collection (each a shard's top
 * k or more) into the top k of the whole: per query, the union ranked as
 * trec_eval ranks (score descending, then docno descending), cut at k;
 * topics sorted by qid, each topic's entries best first.  A document in
 * two runs of one query is an error (the shards overlap). */
lr_trec *lr_runs_merge(lr_trec *const *runs, int n, int k, lr_error *err);

/* One retrieved document. */
typedef struct lr_hit {
    const char *docno;
    double score;
} lr_hit;
/* Sort hits as trec_eval ranks them: score descending, ties by docno
 * descending (strcmp). */
void lr_hits_sort(lr_hit *h, size_t n);
/* Write hits as TREC run lines `qid Q0 docno rank score tag`
 * (scores with %.9g, so float32 scores survive exactly). */
int lr_run_write_topic(FILE *f, const char *qid, const lr_hit *h, int n, const char *tag);

/* Exact maximum-inner-product top-k search.  Documents arrive in blocks
 * (scored with one GEMM per block); each query keeps a bounded heap of
 * its k best under trec_eval's order, so memory is k per query plus the
 * block, plus the documents' ids. */
typedef struct lr_search lr_search;
/* queries: nq x dim row-major (copied).  qids may be NULL; with
 * skip_same_id, a document whose id equals the query's id is never
 * returned (BEIR's ignore_identical_ids). */
lr_search *lr_search_new(const float *queries, int nq, int dim, int k,
                         const char *const *qids, bool skip_same_id);
/* Score nd documents (nd x dim row-major) with ids ids[0..nd) (copied). */
void lr_search_add(lr_search *s, const float *docs, int nd, const char *const *ids);
/* The hits of query q, best first; valid until lr_search_free. */
int lr_search_hits(lr_search *s, int q, const lr_hit **hits);
int64_t lr_search_ndocs(const lr_search *s);
/* The search as a run (as lr_run_load reads one, entries best first):
 * topic per query id, sorted by qid; tag names the run.  Needs qids; a
 * query id given twice (named by queries) or a document id found twice
 * for one query (named by docs) is an error. */
lr_trec *lr_search_run(lr_search *s, const char *queries, const char *docs, const char *tag,
                       lr_error *err);
void lr_search_free(lr_search *s);

/* Measures, with trec_eval's names and definitions. */
typedef enum lr_measure_kind {
    LR_M_MAP, LR_M_RECIP_RANK, LR_M_P, LR_M_RECALL, LR_M_NDCG_CUT, LR_M_MRR
} lr_measure_kind;
typedef struct lr_measure {
    lr_measure_kind kind;
    int cutoff;          /* P, recall, ndcg_cut, MRR; 0 otherwise */
    char name[32];       /* trec_eval's output name: ndcg_cut_10, P_5, map, MRR@10 */
} lr_measure;
/* Add the measures of one -m argument (trec_eval syntax: "map",
 * "ndcg_cut.5,10", "P" = default cutoffs, "MRR@10" or "MRR.10,100") to
 * *ms (malloc'ed, *n entries), dropping duplicates; kept in trec_eval's
 * output order.  Returns -1 with a message on an unknown measure. */
int lr_measures_add(lr_measure **ms, int *n, const char *spec, lr_error *err);
/* ndcg_cut.10, recall.100, recip_rank, map */
int lr_measures_default(lr_measure **ms, int *n);

typedef struct lr_eval_result {
    int nm;
    lr_measure *measures;
    int nq;              /* queries evaluated (in both files) */
    char **qids;         /* sorted (strcmp) */
    double *values;      /* nq x nm */
    int n_avg;           /* denominator of the means (nq, or qrels queries with -c) */
    double *mean;        /* nm */
} lr_eval_result;
/* Evaluate run against qrels.  complete: average over every qrels query
 * (missing ones score 0, trec_eval -c); ignore_identical_ids: drop run
 * entries whose docno equals the qid first. */
lr_eval_result *lr_evaluate(const lr_trec *qrels, const lr_trec *run, const lr_measure *ms,
                            int nm, bool complete, bool ignore_identical_ids, lr_error *err);
void lr_eval_result_free(lr_eval_result *r);

/* --- paired significance tests over per-query values ---
 * Every test is two-sided and works on the paired differences
 * d[i] = y[i] - x[i], i < n (x the baseline); n >= 2. */
typedef enum lr_test { LR_TEST_T, LR_TEST_RANDOMIZATION, LR_TEST_WILCOXON } lr_test;
typedef enum lr_correction {
    LR_CORRECT_HOLM, LR_CORRECT_BONFERRONI, LR_CORRECT_NONE
} lr_correction;
/* "t", "randomization", "wilcoxon"; "holm", "bonferroni", "none".
 * Parsers return -1 on an unknown name. */
int lr_test_parse(const char *s, lr_test *t);
const char *lr_test_name(lr_test t);
int lr_correction_parse(const char *s, lr_correction *c);
const char *lr_correction_name(lr_correction c);

/* Paired Student t test: t = mean(d) / (sd(d) / sqrt(n)), n - 1 degrees
 * of freedom (GSL's t distribution); p = 1 when every d is 0, p = 0 when
 * every d is the same non-zero value. */
double lr_ttest_paired(const double *x, const double *y, int n);
/* Wilcoxon signed-rank test (zero differences dropped, midranks for ties,
 * no continuity correction).  Differences within LR_STATS_TIE of each
 * other are ties, within LR_STATS_TIE of 0 are zeros.  Exact null
 * distribution when n <= 50 with no zero and no tie (*exact = true), the
 * normal approximation with the tie correction of the variance otherwise.
 * p = 1 when every difference is 0. */
#define LR_STATS_TIE 1e-9
double lr_wilcoxon(const double *x, const double *y, int n, bool *exact);
/* Fisher's paired randomization test: `trials` random sign assignments
 * of the d[i] (xoshiro256** seeded with seed); count those whose
 * |mean| >= |mean(d)| - LR_STATS_TIE; p = (count + 1) / (trials + 1). */
double lr_randomization(const double *x, const double *y, int n, long trials, uint64_t seed);
/* Paired percentile bootstrap of mean(d): `resamples` resamples of the n
 * pairs with replacement (seeded), the (1-level)/2 and (1+level)/2
 * quantiles of the resampled means, linearly interpolated. */
void lr_bootstrap_ci(const double *x, const double *y, int n, long resamples, double level,
                     uint64_t seed, double *lo, double *hi);
/* Adjust n p-values for multiple comparisons (Holm's step-down or
 * Bonferroni, capped at 1); out may equal p. */
void lr_p_adjust(const double *p, double *out, int n, lr_correction c);

/* Pair the per-query values of measure m of two evaluations of runs
 * against the same qrels: the queries both have, or with complete every
 * qrels query (a query a run lacks scores 0).  x and y need room for
 * qrels->n values; returns the number of pairs, and in *common the number
 * of queries both evaluations have (0: disjoint). */
int lr_eval_pair(const lr_trec *qrels, const lr_eval_result *a, const lr_eval_result *b, int m,
                 bool complete, double *x, double *y, int *common);
/* One system from n evaluations of its runs (training seeds, random
 * draws) against the same qrels and measures: each query's value is the
 * mean of the runs' values, over the queries every run has, or with
 * complete over every query any run has (a run lacking one scores 0 there,
 * and the means divide by the qrels' queries).  NULL on error. */
lr_eval_result *lr_eval_mean(const lr_trec *qrels, lr_eval_result *const *rs, int n,
                             bool complete, lr_error *err);
/* ---- end eval ---- */

/* ===================================================================
 * model: the decoder's forward and backward passes, pooling, losses,
 * reduced precision, retrieval settings (lib/model/)
 * =================================================================== */
/* ---- model module ---- */
/* Forward pass of a decoder checkpoint (llama, mistral, qwen2, qwen3) in
 * float32 on BLIS GEMMs.  Sequences of different lengths are packed into
 * one token matrix (no padding); attention is causal within each sequence
 * (and within Mistral's sliding window). */
typedef struct lr_model lr_model;
struct lr_stats;
struct lr_ids;
/* Borrow ck (must outlive the model). Weights stay in their stored dtype;
 * BF16/F16 are converted per layer into scratch for the GEMMs. */
lr_model *lr_model_new(const lr_checkpoint *ck, lr_error *err);
void lr_model_free(lr_model *m);
const lr_config *lr_model_config(const lr_model *m);
/* Arithmetic of the projections (the products with weight matrices) of
 * a model from lr_model_new.  f32: exact, the default.  bf16: weights
 * and activations rounded to bfloat16, products summed in fp32
 * (AVX512-BF16).  int8: weights per output channel and activations per
 * token (dynamic) scaled to int8, products summed in int32 (AVX512-VNNI).
 * fast: the fastest of these that the CPU runs well, from its features.
 * Attention, norms, pooling and the embeddings stay fp32. */
typedef enum { LR_PREC_F32 = 0, LR_PREC_BF16 = 1, LR_PREC_INT8 = 2, LR_PREC_FAST = 3 } lr_precision;
const char *lr_precision_name(lr_precision p);              /* "f32", "bf16", "int8", "fast" */
int lr_precision_parse(const char *s, lr_precision *p);     /* 0, or -1 if unknown */
bool lr_precision_supported(lr_precision p);                /* this CPU runs it */
/* fast -> what it stands for on this CPU; an unsupported precision is an
 * error naming the missing CPU feature. */
int lr_precision_resolve(lr_precision p, lr_precision *out, lr_error *err);
/* Convert the model's projection weights once for p (resolved as above);
 * call before the first forward.  The converted weights replace the
 * per-layer fp32 conversion.  A trainable model keeps its fp32 weights
 * and rounds both sides of every product instead (lr_tmodel_set_precision). */
int lr_model_set_precision(lr_model *m, lr_precision p, lr_error *err);
lr_precision lr_model_precision(const lr_model *m);
/* Packed forward: n_seq sequences, lens[i] tokens each (>= 1), ids concatenated.
 * hidden (nullable): final-norm hidden states, [sum(lens) x hidden_size].
 * stats (nullable): accumulate sublayer importance and MLP channel stats.
 * Errors: an id outside the vocabulary, a bad length. */
int lr_model_forward(lr_model *m, const int32_t *ids, const int *lens, int n_seq,
                     float *hidden, struct lr_stats *stats, lr_error *err);
/* Multiply-adds x2 of one forward over the given lengths (GEMMs and
 * attention), for throughput figures. */
double lr_model_flops(const lr_model *m, const int *lens, int n_seq);

/* Statistics for importance scoring (lr-score), accumulated over forwards. */
typedef struct lr_stats {
    int n_layers;
    int64_t tokens;                  /* tokens accumulated */
    double *attn_cos, *mlp_cos;      /* per layer: sum over tokens of cos(x, x + F(norm(x))) */
    int *mlp_width;                  /* per layer (0 = dropped) */
    double **act_abs, **act_sq;      /* per layer, per channel of the activation entering
                                      * down_proj: sum |a|, sum a^2 (NULL when dropped) */
} lr_stats;
lr_stats *lr_stats_new(const lr_checkpoint *ck);
void lr_stats_free(lr_stats *s);

typedef enum { LR_POOL_LAST = 0, LR_POOL_MEAN = 1 } lr_pooling;
const char *lr_pooling_name(lr_pooling p);                 /* "last", "mean" */
int lr_pooling_parse(const char *s, lr_pooling *p);        /* 0, or -1 if unknown */
/* Pool packed hidden states [sum(lens) x dim] into out [n_seq x dim],
 * optionally L2-normalised. */
void lr_pool(const float *hidden, const int *lens, int n_seq, int dim, lr_pooling pooling,
             bool normalize, float *out);

/* Packed batches: the ids of n_seq sequences end to end, with their
 * lengths, as lr_model_forward takes them.  Start from {0}; add appends a
 * copy of one sequence, clear empties the batch and keeps its memory. */
typedef struct lr_batch {
    int32_t *ids;          /* n_tokens ids, sequence after sequence */
    int *lens;             /* n_seq lengths */
    int n_seq;
    size_t n_tokens;
    size_t cap_ids, cap_seq;
} lr_batch;
void lr_batch_add(lr_batch *b, const int32_t *ids, int n);
void lr_batch_clear(lr_batch *b);
void lr_batch_free(lr_batch *b);   /* frees the arrays, not b */
/* The end of the batch that starts at sequence s0 of lens[0..n): the
 * largest s1 such that lens[s0..s1) hold at most budget tokens, and s0 + 1
 * at least (a longer sequence goes alone); their sum in *tokens. */
int lr_batch_span(const int *lens, int n, int s0, size_t budget, size_t *tokens);

/* Retrieval settings: lr.json "retrieval" object when present, else the
 * defaults (append EOS, last pooling, L2-normalise, no prefixes,
 * max_tokens 512).  lr.json form:
 * {"pooling": "last", "normalize": true, "append_eos": true,
 *  "query_prefix": "", "passage_prefix": "", "max_tokens": 512} */
typedef struct lr_retrieval {
    lr_pooling pooling;
    bool normalize, append_eos;
    char *query_prefix, *passage_prefix;   /* malloc'ed, never NULL after _from_checkpoint */
    int max_tokens;
} lr_retrieval;
int lr_retrieval_from_checkpoint(const lr_checkpoint *ck, lr_retrieval *r, lr_error *err);
void lr_retrieval_to_checkpoint(lr_checkpoint *ck, const lr_retrieval *r);   /* writes lr.json "retrieval" */
void lr_retrieval_free(lr_retrieval *r);   /* frees the strings, not r */
/* Settings given on a command line over a model's own: NULL, -1 (0 for
 * max_tokens) keeps the model's value.  Start from LR_RETRIEVAL_KEEP. */
typedef struct lr_retrieval_set {
    const char *query_prefix, *passage_prefix;
    int pooling;                /* an lr_pooling, or -1 */
    int normalize, append_eos;  /* 0 or 1, or -1 */
    int max_tokens;             /* > 0, or 0 */
} lr_retrieval_set;
#define LR_RETRIEVAL_KEEP {NULL, NULL, -1, -1, -1, 0}
void lr_retrieval_override(lr_retrieval *r, const lr_retrieval_set *set);
/* Ids of a text for encoding: out->n is reset; tokenise prefix + text with
 * the tokenizer's special tokens, truncate to max_tokens counting the
 * appended EOS (so EOS is always last when appended).  An empty result is
 * an error. */
int lr_encode_text(const lr_tokenizer *t, const lr_retrieval *r, bool is_query,
                   const char *text, size_t len, struct lr_ids *out, lr_error *err);

/* --- trainable model: float32 weights, forward with cache, backward ---
 * Training keeps float32 master weights whatever the stored dtype (BF16
 * and F16 checkpoints are converted on load and rounded back on save);
 * gradients and AdamW moments are float32 too.  Honours the lr.json
 * layout (dropped sublayers, narrowed MLPs). */
typedef struct lr_tmodel lr_tmodel;
/* One trainable tensor: weights, gradient accumulator, AdamW moments. */
typedef struct lr_tparam {
    char *name;            /* Hugging Face name, or "<name>.lora_A"/".lora_B" */
    float *w, *g, *m, *v;  /* n floats each (m, v allocated on the first step) */
    int64_t n;
    int ndim;
    int64_t shape[2];
    bool decay;            /* weight decay applies (matrices, not norms or biases) */
} lr_tparam;

/* train_head: the (untied) lm_head is trainable; false for contrastive
 * objectives, which never use it. */
lr_tmodel *lr_tmodel_new(const lr_checkpoint *ck, bool train_head, lr_error *err);
void lr_tmodel_free(lr_tmodel *m);
const lr_config *lr_tmodel_config(const lr_tmodel *m);
/* The projections a LoRA target list names ("q,k,v,o,gate,up,down", with
 * or without "_proj", or "all"; NULL or "" = all), in that order. */
int lr_lora_targets_parse(const char *targets, bool use[7], lr_error *err);
/* LoRA on the named projections ("q,k,v,o,gate,up,down" or "all"): base
 * weights frozen, A ~ Kaiming-uniform, B = 0, scale alpha / rank.  Call
 * before training; only the adapters are trainable afterwards. */
int lr_tmodel_lora(lr_tmodel *m, int rank, double alpha, const char *targets,
                   uint64_t seed, lr_error *err);
/* Trainable parameters (full fine-tuning: every tensor; LoRA: adapters). */
lr_tparam *lr_tmodel_params(lr_tmodel *m, int *n);
/* Write the weights (LoRA merged) into ck in each tensor's stored dtype. */
int lr_tmodel_store(lr_tmodel *m, lr_checkpoint *ck, lr_error *err);
/* Limit on packed tokens per forward with cache (gradient caching splits
 * larger contrastive batches; default 4096). */
void lr_tmodel_set_chunk(lr_tmodel *m, int max_tokens);
/* Arithmetic of the projections' products, forward and backward: f32
 * (the default) or bf16 (operands rounded to bfloat16 per product, sums
 * in fp32; the weights, gradients and AdamW state stay fp32); fast: bf16
 * where the CPU runs it faster than f32, else f32.  int8 is an error.
 * Sets what lr_tmodel_precision returns (fast resolved). */
int lr_tmodel_set_precision(lr_tmodel *m, lr_precision p, lr_error *err);
lr_precision lr_tmodel_precision(const lr_tmodel *m);

/* Pooled embeddings [n_seq x hidden] without keeping activations. */
int lr_tmodel_embed(lr_tmodel *m, const int32_t *ids, const int *lens, int n_seq,
                    lr_pooling pooling, float *out, lr_error *err);
/* Contrastive step: queries and passages (packed ids), query i's positive is
 * passage pos[i]; InfoNCE with tau (or, when teacher is non-NULL, KL against
 * the teacher's scores [nq x np] at temperature tau_teacher).  Gradients
 * times `scale` are added to the parameters' g.  Returns the loss, or NaN
 * with err set on bad input. */
typedef struct lr_contrastive_batch {
    const int32_t *q_ids; const int *q_lens; int nq;
    const int32_t *p_ids; const int *p_lens; int np;
    const int *pos;
    const float *teacher;   /* nullable */
} lr_contrastive_batch;
double lr_tmodel_contrastive(lr_tmodel *m, const lr_contrastive_batch *b, double tau,
                             double tau_teacher, lr_pooling pooling, bool normalize,
                             double scale, float *scores, lr_error *err);
/* Causal-LM cross-entropy (mean over predicted tokens, sequences of one
 * token skipped); gradients times scale added.  Returns the loss. */
double lr_tmodel_lm(lr_tmodel *m, const int32_t *ids, const int *lens, int n_seq,
                    double scale, int64_t *n_predicted, lr_error *err);
/* Multiply-adds x2 of forward + backward over the given lengths (with
 * LoRA, no weight gradients but the adapters'). */
double lr_tmodel_flops(const lr_tmodel *m, const int *lens, int n_seq, bool lm);

/* --- losses ---
 * InfoNCE: every query is scored against every passage of the batch
 * (positives, hard negatives and other queries' passages):
 * s_ij = <q_i, p_j> / tau, loss = mean_i -log softmax_j(s_ij)[pos[i]].
 * q [nq x dim], p [np x dim] are pooled embeddings; with normalize they are
 * L2-normalised inside and dq, dp (nullable) receive the gradient with
 * respect to the unnormalised inputs, times `scale`.  scores (nullable)
 * receives s [nq x np]. Returns the loss. */
double lr_infonce(const float *q, int nq, const float *p, int np, int dim, const int *pos,
                  double tau, bool normalize, double scale, float *dq, float *dp, float *scores);
/* KL distillation: KL(softmax(t_i / tau_t) || softmax(s_i)) averaged over
 * queries, s as in lr_infonce and t [nq x np] the teacher's scores. */
double lr_distill_kl(const float *q, int nq, const float *p, int np, int dim,
                     const float *teacher, double tau, double tau_teacher, bool normalize,
                     double scale, float *dq, float *dp);
/* Cross-entropy of n rows of logits [n x vocab] against targets: returns the
 * sum of -log p(target); dlogits (nullable, may alias logits) receives
 * scale * (softmax - onehot). */
double lr_xent(float *logits, int n, int vocab, const int32_t *targets, double scale,
               float *dlogits);

/* --- encoder: texts in, embeddings out ---
 * A model opened for retrieval with its lr.json settings (changed by set
 * when not NULL).  Texts are tokenised as lr_encode_text does, sorted by
 * length, packed into forward passes of at most batch_tokens tokens
 * (default 4096; a longer text goes alone) and pooled; row i of out is
 * text i's embedding, lr_encoder_dim floats.  The model's weights are
 * prepared on the first lr_encoder_set_precision or embedding call.
 *
 *   lr_encoder *e = lr_encoder_open("model.tar", NULL, &err);
 *   float *v = malloc(n * lr_encoder_dim(e) * sizeof(float));
 *   lr_encoder_encode(e, true, queries, n, v, &err);
 *   lr_encoder_free(e);
 */
typedef struct lr_encoder lr_encoder;
lr_encoder *lr_encoder_open(const char *model, const lr_retrieval_set *set, lr_error *err);
/* Over a loaded checkpoint, which the caller keeps and frees after. */
lr_encoder *lr_encoder_new(lr_checkpoint *ck, const lr_retrieval_set *set, lr_error *err);
void lr_encoder_free(lr_encoder *e);
int lr_encoder_dim(const lr_encoder *e);
const lr_retrieval *lr_encoder_retrieval(const lr_encoder *e);
lr_checkpoint *lr_encoder_checkpoint(const lr_encoder *e);
const lr_tokenizer *lr_encoder_tokenizer(const lr_encoder *e);
int lr_encoder_set_precision(lr_encoder *e, lr_precision p, lr_error *err);
lr_precision lr_encoder_precision(const lr_encoder *e);   /* what runs (fast resolved) */
void lr_encoder_set_batch_tokens(lr_encoder *e, int n);
/* Count every batch into p (may be NULL; the caller frees it). */
void lr_encoder_set_progress(lr_encoder *e, lr_progress *p);
/* Embed n texts (NUL-terminated), queries or passages. */
int lr_encoder_encode(lr_encoder *e, bool is_query, const char *const *texts, int n, float *out,
                      lr_error *err);
/* The two halves: ids[0..n) of the texts (lens NULL: strlen), in
 * parallel; on failure *bad is the first text that failed and err its
 * cause.  Then the embeddings of n id sequences. */
int lr_encoder_tokenize(const lr_encoder *e, bool is_query, const char *const *texts,
                        const size_t *lens, int n, struct lr_ids *ids, int *bad, lr_error *err);
int lr_encoder_embed(lr_encoder *e, const struct lr_ids *seqs, int n, float *out, lr_error *err);
/* Work done so far. */
typedef struct lr_encoder_stats {
    int64_t texts, tokens;
    double flops, forward_seconds;
} lr_encoder_stats;
lr_encoder_stats lr_encoder_get_stats(const lr_encoder *e);
/* ---- end model ---- */

/* ===================================================================
 * compress: importance scores, the choice of what to cut, depth and
 * width surgery (lib/compress/)
 * =================================================================== */
/* ---- compress module ---- */
/* Importance scores (lr-score), their stream, and the selection of what
 * to cut: sublayers by importance (lr-cut-depth --drop-mlp) and MLP
 * channels (lr-cut-width).
 *
 * Scores stream ("lr.scores", version 1), one msgpack map per line of
 * the table below; documented in lr-formats(5):
 *   header: model (str, lr_checkpoint_digest of the scored model),
 *           layers (int), hidden (int), intermediate (int, full width),
 *           tokens (int, calibration tokens; 0 = weight-only),
 *           sequences (int), channel_metric (str).
 *   record per layer, in order: layer (int), attn_present (bool),
 *           mlp_width (int, 0 = dropped), attn (float64), mlp (float64):
 *           sublayer importance 1 - mean cos(x, x + F(norm(x))), NaN when
 *           the sublayer is dropped or was not measured; for a present
 *           MLP, channel (bin of mlp_width float32: the channel importance
 *           of channel_metric) and, when measured, absmean and l2 (bin of
 *           mlp_width float32: mean |a| and sqrt(sum a^2) over calibration
 *           tokens of the activation a entering down_proj). */
#define LR_SCORES_VERSION 1

/* Channel importance of an MLP channel j (a_j enters down_proj):
 *  WANDA:   ||a_j||_2 * ||down_proj[:, j]||_2, the norm over calibration
 *           tokens of what removing channel j subtracts from the residual
 *           stream (the default);
 *  ABSMEAN: mean |a_j|;
 *  WEIGHT:  ||gate_proj[j, :]|| * ||up_proj[j, :]|| * ||down_proj[:, j]||,
 *           no calibration needed. */
typedef enum { LR_CM_WANDA = 0, LR_CM_ABSMEAN = 1, LR_CM_WEIGHT = 2 } lr_channel_metric;
const char *lr_channel_metric_name(lr_channel_metric m);   /* "wanda", "absmean", "weight" */
int lr_channel_metric_parse(const char *s, lr_channel_metric *m);   /* 0, or -1 if unknown */

typedef struct lr_scores {
    char model[64];          /* digest of the scored model */
    int n_layers, hidden, intermediate;
    int64_t tokens;          /* calibration tokens (0 = weight-only scores) */
    int64_t sequences;
    char channel_metric[16];
    bool *attn_present;      /* per layer */
    int *mlp_width;          /* per layer, 0 = dropped */
    double *attn, *mlp;      /* per layer importance, NaN = dropped or not measured */
    float **channel;         /* per layer [mlp_width], NULL when the MLP is dropped */
    float **absmean, **l2;   /* per layer [mlp_width], NULL when dropped or not measured */
} lr_scores;

lr_scores *lr_scores_new(int n_layers);   /* every sublayer absent, importance NaN */
void lr_scores_free(lr_scores *s);
/* Write the whole stream (header + one record per layer). */
int lr_scores_write(FILE *f, const lr_scores *s, lr_error *err);
/* Read a whole scores stream; `what` names it in messages.  Checks that
 * every layer has exactly one record, in order, with bins of the right
 * length; a repeated identical header (concatenation) is accepted. */
lr_scores *lr_scores_read(FILE *f, const char *what, lr_error *err);
lr_scores *lr_scores_load(const char *path, lr_error *err);   /* "-" = stdin */
/* Refuse scores of another model: digest, layer count, layout. */
int lr_scores_check_model(const lr_scores *s, lr_checkpoint *ck, const char *what,
                          lr_error *err);
/* Scores of ck, or of an ancestor of ck (a model whose digest ck's lr.json
 * history records as the input of a stage), made to describe ck: the
 * sublayers ck dropped are dropped from s, and full-width channel scores
 * of an MLP ck narrowed keep ck's kept_channels.  *stages is 0 for ck's
 * own scores, else the number of stages since the scored model.  Scores
 * of any other model are refused as lr_scores_check_model does. */
int lr_scores_align(lr_scores *s, lr_checkpoint *ck, const char *what, int *stages,
                    lr_error *err);
/* Scores of ck from accumulated forward statistics (stats may be NULL
 * for LR_CM_WEIGHT: weight-only scores, no sublayer importance). */
lr_scores *lr_scores_compute(lr_checkpoint *ck, const struct lr_stats *stats,
                             lr_channel_metric metric, lr_error *err);
/* Per-layer table of attention and MLP importance (with the rank of each
 * present sublayer, 1 = least important) for a human reader. */
void lr_scores_print(const lr_scores *s, FILE *f);

/* Choose the sublayers to drop: the n_attn least important present
 * attention sublayers and the n_mlp least important present MLPs, never
 * among the first keep_first or last keep_last layers.  drop_attn and
 * drop_mlp (n_layers entries) are set (true = drop), not cleared.
 * Ties go to the lower layer. */
int lr_select_sublayers(const lr_scores *s, int n_attn, int n_mlp, int keep_first,
                        int keep_last, bool *drop_attn, bool *drop_mlp, lr_error *err);

/* Width selection.  keep[l] (n_keep[l] ascending channel indices into
 * the layer's current width) for every present MLP; NULL for dropped. */
typedef struct lr_width_opts {
    double keep;        /* fraction of each layer's width (or of the total), or 0 */
    int width;          /* absolute width (per layer; the mean under global), or 0 */
    bool global;        /* one threshold across layers */
    double floor;       /* global: minimum fraction kept in every layer */
    int multiple_of;    /* round widths to a multiple (1 = no rounding) */
} lr_width_opts;
typedef struct lr_width_plan {
    int n_layers;
    int *n_keep;        /* per layer; 0 for a dropped MLP */
    int **keep;         /* per layer, ascending indices; NULL for a dropped MLP */
} lr_width_plan;
lr_width_plan *lr_select_channels(const lr_scores *s, const lr_width_opts *o, lr_error *err);
/* Explicit channels: a JSON object {"<layer>": [channel, ...], ...}, or an
 * lr.json whose "kept_channels" has that form.  Indices count channels of
 * the full-width MLP (config intermediate_size), as lr.json's
 * kept_channels do; on a model already cut they must be among the
 * channels it kept.  Layers not named keep their width. */
lr_width_plan *lr_channels_load(const char *path, lr_checkpoint *ck, lr_error *err);
void lr_width_plan_free(lr_width_plan *p);

/* Width surgery: keep the planned channels of every MLP (rows of
 * gate_proj and up_proj, columns of down_proj, in their order), update
 * the layout and lr.json's "kept_channels" (indices of the full-width
 * channels, composed over successive cuts), then validate. */
int lr_cut_width(lr_checkpoint *ck, const lr_width_plan *p, lr_error *err);

/* Depth surgery: drop layer i's attention sublayer when drop_attn[i]
 * (input_layernorm, q/k/v/o and their biases and norms) and its MLP when
 * drop_mlp[i] (post_attention_layernorm, gate/up/down); either array may
 * be NULL.  Refuses, changing nothing, to drop a sublayer that is
 * already dropped.  Updates ck->layers; the caller picks the sublayers
 * (explicit lists, importance scores). */
int lr_drop_sublayers(lr_checkpoint *ck, const bool *drop_attn, const bool *drop_mlp, lr_error *err);
/* ---- end compress ---- */

/* ===================================================================
 * train: the training loop, AdamW, schedules, training data, teacher
 * embeddings (lib/train/)
 * =================================================================== */
/* ---- train module ---- */
/* AdamW (Loshchilov & Hutter): decoupled weight decay, bias-corrected moments. */
typedef struct lr_adamw {
    double beta1, beta2, eps, weight_decay;
    int64_t step;          /* updates done */
} lr_adamw;
/* Defaults: betas 0.9/0.999, eps 1e-8, weight decay 0.01. */
void lr_adamw_init(lr_adamw *o);
/* One update of every parameter with learning rate lr (step is incremented first). */
void lr_adamw_step(lr_adamw *o, lr_tparam *p, int n, double lr);

void lr_grad_zero(lr_tparam *p, int n);
/* Global L2 norm of all gradients. */
double lr_grad_norm(const lr_tparam *p, int n);
/* Scale gradients so that their global norm is at most max_norm (> 0);
 * returns the norm before clipping. */
double lr_grad_clip(lr_tparam *p, int n, double max_norm);

typedef enum { LR_SCHED_CONSTANT = 0, LR_SCHED_LINEAR = 1, LR_SCHED_COSINE = 2 } lr_schedule;
int lr_schedule_parse(const char *s, lr_schedule *out);   /* 0, or -1 if unknown */
const char *lr_schedule_name(lr_schedule s);
/* Learning rate for update number step (0-based) of total: linear warm-up
 * from base/warmup to base over `warmup` steps, then constant, or linear
 * or cosine decay from base at update `warmup` to 0 at the last update,
 * total - 1 (with t = (step - warmup) / (total - 1 - warmup): base (1 - t)
 * or base (1 + cos(pi t)) / 2; base when only one update follows the
 * warm-up). */
double lr_schedule_lr(lr_schedule s, double base, int64_t step, int64_t warmup, int64_t total);

/* --- training data ---
 * Passages are kept once in a table; examples refer to them by index. */
typedef struct lr_train_example {
    char *qid;             /* "" when the source gives none */
    char *query;
    int *pos, *neg;        /* indexes into lr_train_data.passages */
    int n_pos, n_neg;
    int line;              /* the row's line in its JSONL file (0: a BEIR directory) */
} lr_train_example;
typedef struct lr_train_data {
    lr_train_example *ex;
    size_t n;
    char **passages;       /* texts ("title text" for corpus documents) */
    char **passage_ids;    /* corpus id or "" for inline texts */
    size_t n_passages;
    void *priv;
} lr_train_data;
/* path is either a BEIR directory (queries.jsonl, qrels/train.tsv,
 * corpus.jsonl) or a JSONL file of rows {"query": TEXT, "pos": [...],
 * "neg": [...]} (also accepted: "qid"/"query_id", "positives",
 * "negatives", "hard_neg", "bm25_neg") whose entries are texts, corpus ids
 * (when `corpus` is given: a string naming a corpus document is an id)
 * or objects {"id", "title", "text"}.  negatives (nullable): JSONL rows
 * {"qid": ..., "neg": [ids]} adding hard negatives by query id.
 * Errors: an unknown corpus id, a row without a positive, an empty text. */
lr_train_data *lr_train_data_load(const char *path, const char *corpus,
                                  const char *negatives, lr_error *err);
void lr_train_data_free(lr_train_data *d);

/* Plain text for the lm objective: blank-line separated paragraphs (or
 * JSONL rows with "text"), each tokenised with special tokens,
 * concatenated and cut into sequences of at most max_len tokens. */
typedef struct lr_lm_data {
    int32_t *ids;          /* all tokens */
    int64_t n_ids;
    int64_t *start;        /* sequence i is ids[start[i] .. start[i+1]) */
    int64_t n_seq;
} lr_lm_data;
lr_lm_data *lr_lm_data_load(const char *path, const lr_tokenizer *tok, int max_len,
                            lr_error *err);
void lr_lm_data_free(lr_lm_data *d);

/* Random initialisation (lr_checkpoint_new) of config_path's model for
 * lr-train --init: the tokenizer (and the tokenizer_config.json beside
 * it) is carried along and must fit the vocabulary.  Returns a
 * checkpoint in memory. */
lr_checkpoint *lr_train_init_random(const char *config_path, const char *tokenizer_path,
                                    uint64_t seed, lr_error *err);

/* --- teacher embeddings for distillation: lr.embeddings streams of the
 * queries (ids = query ids) and of the passages (ids = corpus ids) --- */
typedef struct lr_teacher lr_teacher;
lr_teacher *lr_teacher_load(const char *queries, const char *passages, lr_error *err);
void lr_teacher_free(lr_teacher *t);
/* Embedding of a query or passage id, NULL when absent. */
const float *lr_teacher_query(const lr_teacher *t, const char *id);
const float *lr_teacher_passage(const lr_teacher *t, const char *id);
int lr_teacher_dim(const lr_teacher *t);
/* Every query and passage of d (read from `what`) has a teacher
 * embedding; else an error naming the row, the id and the stream. */
int lr_teacher_check(const lr_teacher *t, const lr_train_data *d, const char *what,
                     lr_error *err);

/* --- the training loop (lr-train) --- */
typedef enum { LR_OBJ_CONTRASTIVE = 0, LR_OBJ_LM = 1, LR_OBJ_DISTILL = 2 } lr_objective;
int lr_objective_parse(const char *s, lr_objective *o);   /* 0, or -1 if unknown */
const char *lr_objective_name(lr_objective o);

typedef struct lr_train_opts {
    lr_objective objective;
    int64_t steps;          /* optimizer updates; 0 = from epochs */
    double epochs;
    double lr, weight_decay, clip;   /* clip 0 = no clipping */
    double tau, tau_teacher;
    int batch;              /* queries (lm: sequences) per micro-batch */
    int negatives;          /* hard negatives per query */
    int accum;              /* micro-batches per update */
    int64_t warmup;         /* warm-up updates */
    lr_schedule schedule;
    uint64_t seed;
    int chunk;              /* tokens per forward with graph */
    lr_precision dtype;     /* of the projections (lr_tmodel_set_precision) */
    int lora_rank;          /* 0 = full fine-tuning */
    double lora_alpha;
    const char *lora_targets;
    int64_t save_every;     /* 0 = only at the end */
    const char *output;     /* path, or NULL/"-" for stdout */
    const char *resume;     /* training state to continue from, or NULL */
    bool quiet;
    FILE *log;              /* nullable: "step loss lr grad-norm tokens" per update */
    int argc;               /* command line, for lr.json's history */
    char **argv;
} lr_train_opts;
void lr_train_opts_init(lr_train_opts *o);
/* Train the model of ck on data (contrastive, distill: with teacher) or
 * lm (lm objective); retrieval settings r (recorded in lr.json) say how
 * texts become ids.  Writes the trained model to o->output, and with
 * save_every, every save_every updates, the model and the training state
 * "<output>.state" (resumable with o->resume), once the next batch has
 * shown a finite loss.  Returns 0, or -1 with err set: a NaN loss stops
 * training, leaving the last checkpoint written by save_every as it was.
 * ck holds the trained weights on success; while training (and after a
 * failure) it holds none, so that the weights are in memory once. */
int lr_train(lr_checkpoint *ck, const lr_tokenizer *tok, const lr_retrieval *r,
             const lr_train_opts *o, const lr_train_data *data, const lr_lm_data *lm,
             const lr_teacher *teacher, lr_error *err);
/* ---- end train ---- */

/* ===================================================================
 * dist: data parallelism over MPI ranks (the one module that uses MPI)
 * (lib/dist/)
 * =================================================================== */
/* ---- dist module ---- */
/* Call first in main.  Started by an MPI launcher (mpirun, srun) in a
 * build with MPI, the process becomes rank r of n; otherwise rank 0 of 1,
 * and every call below is the identity.  Returns n. */
int lr_dist_init(int *argc, char ***argv);
int lr_dist_rank(void);
int lr_dist_size(void);
/* This rank's contiguous share [begin, end) of n items (rank order). */
void lr_dist_share(int64_t n, int64_t *begin, int64_t *end);
/* Collective sums in place; every rank gets bitwise the same result. */
void lr_dist_sum_float(float *x, size_t n);
void lr_dist_sum_double(double *x, size_t n);
void lr_dist_sum_int64(int64_t *x, size_t n);
/* All-gather of rows: each rank holds its share (lr_dist_share) of n rows
 * of width floats in mine; all receives the n rows in rank order. */
void lr_dist_gather_rows(const float *mine, float *all, int64_t n, int64_t width);
/* Collective: rc is this rank's status.  Returns 0 when every rank
 * succeeded, else -1 on every rank with err holding the first failing
 * rank's message ("rank R of N: ..." when R > 0). */
int lr_dist_check(int rc, lr_error *err);
/* Collective: -1 with err set on every rank unless every rank passes the
 * same digest; what names it ("training data"). */
int lr_dist_agree(uint64_t digest, const char *what, lr_error *err);
/* lr_die under n > 1 ranks: after a failure shared by lr_dist_check or
 * lr_dist_agree, rank 0 prints msg and every rank exits 1; otherwise
 * "rank R of N: msg" and the whole job is aborted. */
void lr_dist_die(const char *msg) __attribute__((noreturn));
/* Running 64-bit digest of n bytes (start with h = 0). */
uint64_t lr_digest(uint64_t h, const void *data, size_t n);
/* ---- end dist ---- */

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* LR_H */
