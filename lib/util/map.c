/* map.c - the library's one hash map: open addressing with linear probing
 * over a power-of-two table of (key, value) slots, never more than half
 * full.  Keys are 64-bit integers, or byte strings held by the caller
 * (the slot keeps the string's hash and its index); lr_strmap on top of it
 * maps strings it copies to ints. */
#include "config.h"
#include "internal.h"

static lr_map_slot *new_slots(size_t cap)
{
    return lr_xcalloc(cap, sizeof(lr_map_slot));   /* not_key 0: every key LR_MAP_EMPTY */
}

void lr_map_init(lr_map *m, size_t n_expected)
{
    size_t cap = 16;
    while (cap < 2 * n_expected) cap *= 2;
    m->slot = new_slots(cap);
    m->mask = cap - 1;
    m->n = 0;
}

void lr_map_free(lr_map *m)
{
    free(m->slot);
    m->slot = NULL;
    m->mask = m->n = 0;
}

/* Room for one more key: a slot table at most half full afterwards. */
static void reserve_one(lr_map *m)
{
    if (m->slot && 2 * (m->n + 1) <= m->mask + 1) return;
    size_t old_cap = m->slot ? m->mask + 1 : 0;
    lr_map_slot *old = m->slot;
    size_t cap = old_cap ? 2 * old_cap : 16;
    while (cap < 2 * (m->n + 1)) cap *= 2;
    m->slot = new_slots(cap);
    m->mask = cap - 1;
    /* the stored key is all a slot's place depends on, byte keys included */
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].not_key == 0) continue;
        size_t j = lr_map_index(~old[i].not_key, m->mask);
        while (m->slot[j].not_key != 0) j = (j + 1) & m->mask;
        m->slot[j] = old[i];
    }
    free(old);
}

int lr_map_put(lr_map *m, uint64_t key, uint64_t val)
{
    reserve_one(m);
    for (size_t i = lr_map_index(key, m->mask);; i = (i + 1) & m->mask) {
        lr_map_slot *s = &m->slot[i];
        if (s->not_key == ~key) return 1;
        if (s->not_key == 0) {
            *s = (lr_map_slot){~key, val};
            m->n++;
            return 0;
        }
    }
}

int64_t lr_map_put_bytes(lr_map *m, uint32_t k)
{
    const char *s = m->key[k];
    size_t n = m->key_len[k];
    uint64_t h = lr_hash_bytes(s, n);
    reserve_one(m);
    for (size_t i = lr_map_index(h, m->mask);; i = (i + 1) & m->mask) {
        lr_map_slot *e = &m->slot[i];
        if (e->not_key == ~h) {
            uint32_t o = (uint32_t)e->val;
            if (m->key_len[o] == n && !memcmp(m->key[o], s, n)) return o;
        } else if (e->not_key == 0) {
            *e = (lr_map_slot){~h, k};
            m->n++;
            return -1;
        }
    }
}

/* ---------------------------------------------------------------- lr_strmap */

int lr_strmap_get(const lr_strmap *m, const char *k)
{
    int64_t i = lr_map_get_bytes(&m->map, k, strlen(k));
    return i < 0 ? -1 : m->val[i];
}

void lr_strmap_put(lr_strmap *m, const char *k, int v)
{
    size_t len = strlen(k);
    int64_t i = lr_map_get_bytes(&m->map, k, len);
    if (i >= 0) {
        m->val[i] = v;
        return;
    }
    if (len > UINT32_MAX || m->n >= UINT32_MAX) lr_die("out of memory (string map)");
    m->key = lr_grow(m->key, &m->cap_key, m->n + 1, sizeof *m->key);
    m->key_len = lr_grow(m->key_len, &m->cap_len, m->n + 1, sizeof *m->key_len);
    m->val = lr_grow(m->val, &m->cap_val, m->n + 1, sizeof *m->val);
    m->key[m->n] = lr_xstrdup(k);
    m->key_len[m->n] = (uint32_t)len;
    m->val[m->n] = v;
    m->map.key = (const char *const *)m->key;
    m->map.key_len = m->key_len;
    lr_map_put_bytes(&m->map, (uint32_t)m->n++);
}

void lr_strmap_free(lr_strmap *m)
{
    for (size_t i = 0; i < m->n; i++) free(m->key[i]);
    free(m->key);
    free(m->key_len);
    free(m->val);
    lr_map_free(&m->map);
}
