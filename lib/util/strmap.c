/* strmap.c - a string -> int hash map (open addressing, FNV-1a). */
#include "internal.h"

#include <stdint.h>

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

int lr_strmap_get(const lr_strmap *m, const char *k)
{
    if (!m->cap) return -1;
    for (size_t i = hash_str(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i]) return -1;
        if (strcmp(m->keys[i], k) == 0) return m->vals[i];
    }
}

void lr_strmap_put(lr_strmap *m, const char *k, int v)
{
    if (2 * (m->n + 1) > m->cap) {
        lr_strmap o = *m;
        m->cap = o.cap ? o.cap * 2 : 1024;
        m->keys = lr_xcalloc(m->cap, sizeof(char *));
        m->vals = lr_xcalloc(m->cap, sizeof(int));
        m->n = 0;
        for (size_t i = 0; i < o.cap; i++)
            if (o.keys[i]) {
                lr_strmap_put(m, o.keys[i], o.vals[i]);
                free(o.keys[i]);
            }
        free(o.keys);
        free(o.vals);
    }
    size_t i = hash_str(k) & (m->cap - 1);
    for (; m->keys[i]; i = (i + 1) & (m->cap - 1))
        if (strcmp(m->keys[i], k) == 0) {
            m->vals[i] = v;
            return;
        }
    m->keys[i] = lr_xstrdup(k);
    m->vals[i] = v;
    m->n++;
}

void lr_strmap_free(lr_strmap *m)
{
    for (size_t i = 0; i < m->cap; i++) free(m->keys[i]);
    free(m->keys);
    free(m->vals);
}
