/* utf8.c - UTF-8 validation (Unicode 15, table 3-7: well-formed byte
 * sequences), shared by the tokenizer and the checkpoint reader. */
#include "internal.h"

long lr_utf8_check(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t need;
    /* the second byte's range narrows for E0, ED, F0 and F4: no overlong
     * forms, no surrogates, nothing above U+10FFFF */
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c == 0xE0) { need = 2; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) need = 2;
    else if (c == 0xED) { need = 2; hi = 0x9F; }
    else if (c >= 0xEE && c <= 0xEF) need = 2;
    else if (c == 0xF0) { need = 3; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) need = 3;
    else if (c == 0xF4) { need = 3; hi = 0x8F; }
    else return -1;
    for (size_t i = 1; i <= need; i++) {
        if (i >= n) return -(long)i;
        unsigned d = s[i];
        unsigned l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
        if (d < l || d > h) return -(long)i;
    }
    return (long)need + 1;
}

size_t lr_utf8_valid_len(const unsigned char *s, size_t n)
{
    long r = lr_utf8_check(s, n);
    return r > 0 ? (size_t)r : 0;
}

bool lr_utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        if (u[i] < 0x80) { i++; continue; }
        long r = lr_utf8_check(u + i, n - i);
        if (r < 0) return false;
        i += (size_t)r;
    }
    return true;
}
