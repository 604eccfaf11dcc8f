/* tokenizer-internal.h - private structures of the tokenizer module. */
#ifndef LR_TOKENIZER_INTERNAL_H
#define LR_TOKENIZER_INTERNAL_H

#include "internal.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* ---- growable byte buffer ---- */
typedef struct tk_buf {
    char *p;
    size_t n, cap;
} tk_buf;
void tk_buf_reserve(tk_buf *b, size_t extra);
void tk_buf_add(tk_buf *b, const void *s, size_t n);

/* ---- UTF-8 ---- */
/* Decode one character of valid UTF-8; returns its length. */
size_t tk_utf8_decode(const unsigned char *s, int32_t *cp);
size_t tk_utf8_encode(int32_t cp, char *out);
/* Replace each maximal invalid subsequence by U+FFFD (as Rust's
 * from_utf8_lossy and Python's errors="replace").  Returns NULL when the
 * input is valid (no copy needed), else a malloc'ed copy in *out_len. */
char *tk_utf8_sanitize(const char *s, size_t n, size_t *out_len);
bool tk_is_whitespace(int32_t c);    /* Rust char::is_whitespace */
bool tk_is_word(int32_t c);          /* regex \w: letters, marks, Nd, Nl, Pc */
bool tk_is_numeric(int32_t c);       /* Rust char::is_numeric */

/* ---- a compiled regular expression (PCRE2, UTF + UCP, JIT) ---- */
typedef struct tk_regex {
    pcre2_code *code;
    bool jit;
} tk_regex;
int tk_regex_compile(tk_regex *re, const char *pattern, size_t len, const char *what, lr_error *err);
void tk_regex_free(tk_regex *re);
/* Per-call matching state (match data, JIT stack): not shared between threads. */
typedef struct tk_match_ctx {
    pcre2_match_data *md;
    pcre2_jit_stack *stack;
    pcre2_match_context *mctx;
} tk_match_ctx;
void tk_match_ctx_free(tk_match_ctx *m);
/* Next non-empty match of re in s[0..n) at or after *pos; returns 1 with
 * [*ms, *me), 0 when none, -1 on a matching error. */
int tk_regex_next(const tk_regex *re, tk_match_ctx *m, const char *s, size_t n, size_t pos,
                  size_t *ms, size_t *me, lr_error *err);

/* ---- pattern (Split, Replace): a literal string or a regex ---- */
typedef struct tk_pattern {
    char *str;          /* literal, when not a regex */
    size_t str_len;
    tk_regex re;        /* re.code != NULL when a regex */
} tk_pattern;

/* ---- normalizers (sequences flattened at load) ---- */
typedef enum {
    TK_N_NFC, TK_N_NFD, TK_N_NFKC, TK_N_NFKD, TK_N_PREPEND, TK_N_REPLACE,
    TK_N_LOWERCASE, TK_N_STRIP
} tk_norm_type;
typedef struct tk_norm {
    tk_norm_type type;
    char *str;              /* Prepend: prepend; Replace: content */
    size_t str_len;
    tk_pattern pat;         /* Replace */
    bool left, right;       /* Strip */
} tk_norm;

/* ---- pre-tokenizers (sequences flattened at load) ---- */
typedef enum {
    TK_SPLIT_REMOVED, TK_SPLIT_ISOLATED, TK_SPLIT_MERGED_PREV, TK_SPLIT_MERGED_NEXT,
    TK_SPLIT_CONTIGUOUS
} tk_split_behavior;
typedef enum {
    TK_P_SPLIT, TK_P_BYTELEVEL, TK_P_METASPACE, TK_P_DIGITS, TK_P_WHITESPACE_SPLIT
} tk_pretok_type;
typedef enum { TK_PREPEND_ALWAYS, TK_PREPEND_FIRST, TK_PREPEND_NEVER } tk_prepend_scheme;
typedef struct tk_pretok {
    tk_pretok_type type;
    tk_pattern pat;             /* Split (and ByteLevel's use_regex) */
    bool has_regex;             /* ByteLevel with use_regex */
    tk_split_behavior behavior;
    bool invert;
    bool add_prefix_space;      /* ByteLevel */
    char repl[8];               /* Metaspace replacement, UTF-8 */
    size_t repl_len;
    int32_t repl_cp;
    tk_prepend_scheme prepend;  /* Metaspace */
    bool split;                 /* Metaspace */
    bool individual;            /* Digits */
} tk_pretok;

/* ---- added tokens ---- */
typedef struct tk_added {
    char *content;
    size_t len;
    int32_t id;
    bool lstrip, rstrip, single_word, normalized, special;
} tk_added;

/* ---- decoders (sequences flattened) ---- */
typedef enum {
    TK_D_BYTELEVEL, TK_D_METASPACE, TK_D_BYTEFALLBACK, TK_D_FUSE, TK_D_STRIP, TK_D_REPLACE
} tk_dec_type;
typedef struct tk_dec {
    tk_dec_type type;
    char *str;              /* Replace content, Strip content */
    size_t str_len;
    tk_pattern pat;         /* Replace */
    int start, stop;        /* Strip */
    int32_t repl_cp;        /* Metaspace */
    bool prepend;           /* Metaspace: prepend_scheme != never */
} tk_dec;

/* ---- the BPE model ---- */
typedef struct tk_bpe {
    int32_t n_vocab;            /* size of the id tables: max vocab id + 1 */
    char **tok;                 /* tok[id]: token string as in the file (NULL if no such id) */
    char **key;                 /* key[id]: internal form (raw bytes when byte-level) */
    char *tok_pool, *key_pool;  /* storage of the strings above */
    uint32_t *key_len;
    lr_map vocab;               /* internal form -> id (byte keys key[id]) */
    lr_map merges;              /* left id << 32 | right id -> rank << 32 | merged id */
    int32_t byte_id[256];       /* byte-level: id of each single byte; else id of <0xNN> (-1 if none) */
    int32_t ascii_id[128];      /* non byte-level: id of each ASCII character */
    bool byte_level;            /* vocabulary in GPT-2 byte-to-unicode form */
    bool byte_fallback, fuse_unk, ignore_merges;
    int32_t unk_id;
    char split_char[4];         /* word-start character BPE may split before (see */
    uint8_t split_len;          /* tk_bpe_check_word_split), 0 = none */
} tk_bpe;

void tk_bpe_free(tk_bpe *b);
/* Append the ids of one pre-token (internal form) to out. */
void tk_bpe_encode(const tk_bpe *b, const char *s, size_t n, lr_ids *out);
void tk_bpe_check_word_split(tk_bpe *b, const char *c, size_t cl);

/* model.vocab and model.merges as flat lists (strings NUL-terminated in pool). */
typedef struct tk_vent { size_t off; uint32_t len; int64_t id; } tk_vent;
typedef struct tk_vocab_list { tk_buf pool; tk_vent *v; size_t n, cap; } tk_vocab_list;
/* pair: ["a", "b"]; otherwise a is the whole "a b" string. */
typedef struct tk_ment { size_t a, b; uint32_t la, lb; bool pair; } tk_ment;
typedef struct tk_merge_list { tk_buf pool; tk_ment *v; size_t n, cap; } tk_merge_list;
/* Fast path: parse model.vocab and model.merges out of the document text and
 * return a copy of it with them replaced by {} and []; NULL when the text is
 * not as expected (the caller then parses everything with jansson). */
char *tk_json_split_model(const char *s, size_t n, tk_vocab_list *vl, tk_merge_list *ml, size_t *out_len);

/* GPT-2 byte <-> unicode map. */
extern const int32_t tk_byte_to_cp[256];
int tk_cp_to_byte(int32_t cp);   /* -1 when not in the map */

struct lr_tokenizer {
    char *what;
    tk_bpe bpe;
    tk_norm *norms;
    size_t n_norms;
    tk_pretok *pretoks;
    size_t n_pretoks;
    tk_added *added;            /* sorted by first byte, then longest first */
    size_t n_added;
    uint8_t added_first[256];   /* 1 when some added token starts with this byte */
    bool has_norm_added, has_raw_added;
    tk_dec *decs;
    size_t n_decs;
    bool has_decoder;
    int32_t *prefix, *suffix;   /* post-processor ids around the sequence */
    size_t n_prefix, n_suffix;
    int32_t vocab_size;
    int32_t bos_id, eos_id;
    char **special_tok;         /* id -> added token content (or NULL) */
    bool *is_special;           /* id -> special added token */
};

/* Normalize s[0..n) through the normalizer chain into out (reset); tmp is scratch. */
int tk_normalize(const lr_tokenizer *t, const char *s, size_t n, tk_buf *out, tk_buf *tmp,
                 tk_match_ctx *mc, lr_error *err);

/* A pre-token: a slice of the arena. */
typedef struct tk_piece {
    size_t off, len;
    bool at_start;   /* begins at offset 0 of the original text */
} tk_piece;
typedef struct tk_pieces {
    tk_piece *v;
    size_t n, cap;
} tk_pieces;
/* Run the pre-tokenizers over pieces (in arena), replacing them. */
int tk_pretokenize(const lr_tokenizer *t, tk_buf *arena, tk_pieces *pieces, tk_pieces *tmp,
                   tk_match_ctx *mc, lr_error *err);

int tk_load_normalizer(lr_tokenizer *t, struct json_t *j, const char *what, lr_error *err);
int tk_load_pretokenizer(lr_tokenizer *t, struct json_t *j, const char *what, lr_error *err);
int tk_load_pattern(tk_pattern *p, struct json_t *j, const char *what, lr_error *err);
void tk_pattern_free(tk_pattern *p);
/* Load decoder; decode. */
int tk_load_decoder(lr_tokenizer *t, struct json_t *j, const char *what, lr_error *err);

#endif
