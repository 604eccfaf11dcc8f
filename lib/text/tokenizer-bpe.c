/* tokenizer-bpe.c - the BPE model: vocabulary and merge tables, and the
 * merge loop with the tie-breaking of the Rust `tokenizers` crate
 * (lowest rank first, then leftmost). */
#include "config.h"
#include "text/tokenizer-internal.h"

/* GPT-2 bytes_to_unicode(): printable bytes map to themselves, the others
 * to U+0100 onwards. */
const int32_t tk_byte_to_cp[256] = {
    0x100, 0x101, 0x102, 0x103, 0x104, 0x105, 0x106, 0x107, 0x108, 0x109, 0x10A, 0x10B,
    0x10C, 0x10D, 0x10E, 0x10F, 0x110, 0x111, 0x112, 0x113, 0x114, 0x115, 0x116, 0x117,
    0x118, 0x119, 0x11A, 0x11B, 0x11C, 0x11D, 0x11E, 0x11F, 0x120, 0x021, 0x022, 0x023,
    0x024, 0x025, 0x026, 0x027, 0x028, 0x029, 0x02A, 0x02B, 0x02C, 0x02D, 0x02E, 0x02F,
    0x030, 0x031, 0x032, 0x033, 0x034, 0x035, 0x036, 0x037, 0x038, 0x039, 0x03A, 0x03B,
    0x03C, 0x03D, 0x03E, 0x03F, 0x040, 0x041, 0x042, 0x043, 0x044, 0x045, 0x046, 0x047,
    0x048, 0x049, 0x04A, 0x04B, 0x04C, 0x04D, 0x04E, 0x04F, 0x050, 0x051, 0x052, 0x053,
    0x054, 0x055, 0x056, 0x057, 0x058, 0x059, 0x05A, 0x05B, 0x05C, 0x05D, 0x05E, 0x05F,
    0x060, 0x061, 0x062, 0x063, 0x064, 0x065, 0x066, 0x067, 0x068, 0x069, 0x06A, 0x06B,
    0x06C, 0x06D, 0x06E, 0x06F, 0x070, 0x071, 0x072, 0x073, 0x074, 0x075, 0x076, 0x077,
    0x078, 0x079, 0x07A, 0x07B, 0x07C, 0x07D, 0x07E, 0x121, 0x122, 0x123, 0x124, 0x125,
    0x126, 0x127, 0x128, 0x129, 0x12A, 0x12B, 0x12C, 0x12D, 0x12E, 0x12F, 0x130, 0x131,
    0x132, 0x133, 0x134, 0x135, 0x136, 0x137, 0x138, 0x139, 0x13A, 0x13B, 0x13C, 0x13D,
    0x13E, 0x13F, 0x140, 0x141, 0x142, 0x0A1, 0x0A2, 0x0A3, 0x0A4, 0x0A5, 0x0A6, 0x0A7,
    0x0A8, 0x0A9, 0x0AA, 0x0AB, 0x0AC, 0x143, 0x0AE, 0x0AF, 0x0B0, 0x0B1, 0x0B2, 0x0B3,
    0x0B4, 0x0B5, 0x0B6, 0x0B7, 0x0B8, 0x0B9, 0x0BA, 0x0BB, 0x0BC, 0x0BD, 0x0BE, 0x0BF,
    0x0C0, 0x0C1, 0x0C2, 0x0C3, 0x0C4, 0x0C5, 0x0C6, 0x0C7, 0x0C8, 0x0C9, 0x0CA, 0x0CB,
    0x0CC, 0x0CD, 0x0CE, 0x0CF, 0x0D0, 0x0D1, 0x0D2, 0x0D3, 0x0D4, 0x0D5, 0x0D6, 0x0D7,
    0x0D8, 0x0D9, 0x0DA, 0x0DB, 0x0DC, 0x0DD, 0x0DE, 0x0DF, 0x0E0, 0x0E1, 0x0E2, 0x0E3,
    0x0E4, 0x0E5, 0x0E6, 0x0E7, 0x0E8, 0x0E9, 0x0EA, 0x0EB, 0x0EC, 0x0ED, 0x0EE, 0x0EF,
    0x0F0, 0x0F1, 0x0F2, 0x0F3, 0x0F4, 0x0F5, 0x0F6, 0x0F7, 0x0F8, 0x0F9, 0x0FA, 0x0FB,
    0x0FC, 0x0FD, 0x0FE, 0x0FF,
};

static const int16_t CP_TO_BYTE[324] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
    48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
    64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79,
    80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95,
    96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, 161, 162, 163, 164, 165, 166, 167, 168, 169, 170, 171, 172, -1, 174, 175,
    176, 177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 190, 191,
    192, 193, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 204, 205, 206, 207,
    208, 209, 210, 211, 212, 213, 214, 215, 216, 217, 218, 219, 220, 221, 222, 223,
    224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239,
    240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253, 254, 255,
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
    32, 127, 128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 140, 141,
    142, 143, 144, 145, 146, 147, 148, 149, 150, 151, 152, 153, 154, 155, 156, 157,
    158, 159, 160, 173,
};

int tk_cp_to_byte(int32_t cp)
{
    return cp >= 0 && cp < 324 ? CP_TO_BYTE[cp] : -1;
}

/* ---------------------------------------------------------------- merges */

static inline const lr_map_slot *merge_get(const tk_bpe *b, int32_t left, int32_t right)
{
    return lr_map_get(&b->merges, (uint64_t)(uint32_t)left << 32 | (uint32_t)right);
}
static inline int32_t merge_rank(const lr_map_slot *s) { return (int32_t)(s->val >> 32); }
static inline int32_t merge_id(const lr_map_slot *s) { return (int32_t)(uint32_t)s->val; }

void tk_bpe_free(tk_bpe *b)
{
    free(b->tok_pool);
    free(b->key_pool);
    free(b->tok);
    free(b->key);
    free(b->key_len);
    lr_map_free(&b->vocab);
    lr_map_free(&b->merges);
}

/* ---------------------------------------------------------------- merging */

#define NO_RANK INT32_MAX

/* Short words: keep the pair ranks in an array and rescan for the minimum;
 * only the two neighbours of a merge are looked up again. */
static size_t merge_linear(const tk_bpe *b, int32_t *sym, size_t m, int32_t *rk, int32_t *nid)
{
    for (size_t i = 0; i + 1 < m; i++) {
        const lr_map_slot *s = merge_get(b, sym[i], sym[i + 1]);
        rk[i] = s ? merge_rank(s) : NO_RANK;
        nid[i] = s ? merge_id(s) : -1;
    }
    while (m > 1) {
        size_t best = 0;
        int32_t br = rk[0];
        for (size_t i = 1; i + 1 < m; i++)
            if (rk[i] < br) { br = rk[i]; best = i; }
        if (br == NO_RANK) break;
        sym[best] = nid[best];
        memmove(sym + best + 1, sym + best + 2, (m - best - 2) * sizeof *sym);
        memmove(rk + best, rk + best + 1, (m - best - 2) * sizeof *rk);
        memmove(nid + best, nid + best + 1, (m - best - 2) * sizeof *nid);
        m--;
        for (size_t i = best > 0 ? best - 1 : 0; i <= best && i + 1 < m; i++) {
            const lr_map_slot *s = merge_get(b, sym[i], sym[i + 1]);
            rk[i] = s ? merge_rank(s) : NO_RANK;
            nid[i] = s ? merge_id(s) : -1;
        }
    }
    return m;
}

/* Long words (a whole SentencePiece-style text is one word): a binary heap
 * of candidate merges keyed by (rank, position), stale entries skipped. */
typedef struct { uint64_t key; int32_t id; } heap_ent;

static void heap_push(heap_ent *h, size_t *n, heap_ent e)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p].key <= e.key) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static heap_ent heap_pop(heap_ent *h, size_t *n)
{
    heap_ent top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1].key < h[c].key) c++;
        if (last.key <= h[c].key) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

static size_t merge_heap(const tk_bpe *b, int32_t *sym, size_t m)
{
    int32_t *prev = lr_xmalloc(m * sizeof *prev), *next = lr_xmalloc(m * sizeof *next);
    bool *dead = lr_xcalloc(m, sizeof *dead);
    /* Each merge adds at most two entries. */
    heap_ent *h = lr_xmalloc((3 * m + 1) * sizeof *h);
    size_t hn = 0;
    for (size_t i = 0; i < m; i++) {
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < m ? (int32_t)i + 1 : -1;
        if (i + 1 < m) {
            const lr_map_slot *s = merge_get(b, sym[i], sym[i + 1]);
            if (s) heap_push(h, &hn, (heap_ent){(uint64_t)merge_rank(s) << 32 | i, merge_id(s)});
        }
    }
    while (hn) {
        heap_ent e = heap_pop(h, &hn);
        size_t pos = (uint32_t)e.key;
        if (dead[pos] || next[pos] < 0) continue;
        int32_t r = next[pos];
        const lr_map_slot *s = merge_get(b, sym[pos], sym[r]);
        if (!s || merge_id(s) != e.id) continue;
        sym[pos] = e.id;
        dead[r] = true;
        next[pos] = next[r];
        if (next[r] >= 0) prev[next[r]] = (int32_t)pos;
        if (prev[pos] >= 0) {
            int32_t p = prev[pos];
            const lr_map_slot *t = merge_get(b, sym[p], sym[pos]);
            if (t) heap_push(h, &hn, (heap_ent){(uint64_t)merge_rank(t) << 32 | (uint32_t)p, merge_id(t)});
        }
        if (next[pos] >= 0) {
            const lr_map_slot *t = merge_get(b, sym[pos], sym[next[pos]]);
            if (t) heap_push(h, &hn, (heap_ent){(uint64_t)merge_rank(t) << 32 | pos, merge_id(t)});
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < m; i++)
        if (!dead[i]) sym[k++] = sym[i];
    free(prev);
    free(next);
    free(dead);
    free(h);
    return k;
}

#define SMALL_WORD 96

static void encode_word(const tk_bpe *b, const char *s, size_t n, lr_ids *out)
{
    const unsigned char *u = (const unsigned char *)s;
    /* At most one symbol per byte (byte fallback included). */
    int32_t small[SMALL_WORD];
    int32_t *sym = n <= SMALL_WORD ? small : lr_xmalloc(n * sizeof *sym);
    size_t m = 0;
    bool last_unk = false;
    for (size_t i = 0; i < n;) {
        size_t l;
        int32_t id;
        if (b->byte_level) { l = 1; id = b->byte_id[u[i]]; }
        else if (u[i] < 0x80) { l = 1; id = b->ascii_id[u[i]]; }
        else {
            l = lr_utf8_valid_len(u + i, n - i);
            if (!l) l = 1;
            id = (int32_t)lr_map_get_bytes(&b->vocab, s + i, l);
        }
        if (id >= 0) {
            sym[m++] = id;
            last_unk = false;
        } else {
            bool done = false;
            if (b->byte_fallback && !b->byte_level) {
                done = true;
                for (size_t q = 0; q < l; q++)
                    if (b->byte_id[u[i + q]] < 0) done = false;
                if (done)
                    for (size_t q = 0; q < l; q++) sym[m++] = b->byte_id[u[i + q]];
                last_unk = false;
            }
            if (!done && b->unk_id >= 0) {
                if (!(b->fuse_unk && last_unk)) sym[m++] = b->unk_id;
                last_unk = true;
            }
        }
        i += l;
    }
    if (m > 1) {
        if (m <= SMALL_WORD) {
            int32_t rk[SMALL_WORD], nid[SMALL_WORD];
            m = merge_linear(b, sym, m, rk, nid);
        } else
            m = merge_heap(b, sym, m);
    }
    out->ids = lr_grow(out->ids, &out->cap, out->n + m, sizeof *out->ids);
    if (m) memcpy(out->ids + out->n, sym, m * sizeof *sym);
    out->n += m;
    if (sym != small) free(sym);
}

/* Whether some vocabulary token has the word-start character c after
 * another character.  When none has, no merge can span a word start, and
 * BPE may run word by word with the same result as over the whole text. */
void tk_bpe_check_word_split(tk_bpe *b, const char *c, size_t cl)
{
    b->split_len = 0;
    if (b->byte_level || cl == 0 || cl > sizeof b->split_char) return;
    for (int32_t id = 0; id < b->n_vocab; id++) {
        const char *t = b->key[id];
        if (!t) continue;
        size_t n = b->key_len[id];
        for (size_t i = cl; i + cl <= n; i++)
            if (!memcmp(t + i, c, cl) && memcmp(t + i - cl, c, cl)) return;
    }
    memcpy(b->split_char, c, cl);
    b->split_len = (uint8_t)cl;
}

void tk_bpe_encode(const tk_bpe *b, const char *s, size_t n, lr_ids *out)
{
    if (n == 0) return;
    if (b->ignore_merges) {
        int32_t id = (int32_t)lr_map_get_bytes(&b->vocab, s, n);
        if (id >= 0) { lr_ids_push(out, id); return; }
    }
    size_t cl = b->split_len;
    if (cl == 0 || n <= SMALL_WORD) { encode_word(b, s, n, out); return; }
    /* Split before each word-start character that follows another character. */
    size_t start = 0;
    const char *p = s + cl, *end = s + n;
    while (p + cl <= end) {
        const char *f = memchr(p, b->split_char[0], (size_t)(end - p));
        if (!f || f + cl > end) break;
        if (!memcmp(f, b->split_char, cl) && memcmp(f - cl, b->split_char, cl)) {
            encode_word(b, s + start, (size_t)(f - s) - start, out);
            start = (size_t)(f - s);
        }
        p = f + 1;
    }
    encode_word(b, s + start, n - start, out);
}
