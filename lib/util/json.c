/* json.c - jansson wrappers with one-line errors naming file and place. */
#include "config.h"
#include "internal.h"

#include <jansson.h>

json_t *lr_json_parse(const char *buf, size_t len, const char *what, lr_error *err)
{
    json_error_t je;
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!j) lr_errorf(err, "%s: malformed JSON at line %d, column %d: %s", what, je.line, je.column, je.text);
    return j;
}

json_t *lr_json_load_file(const char *path, lr_error *err)
{
    size_t n;
    char *buf = lr_read_file(path, &n, err);
    if (!buf) return NULL;
    json_t *j = lr_json_parse(buf, n, path, err);
    free(buf);
    return j;
}
