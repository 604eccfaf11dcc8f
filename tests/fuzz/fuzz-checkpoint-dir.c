/* fuzz-checkpoint-dir.c - a checkpoint directory (weights mapped).
 * Input: config.json %% model.safetensors [%% lr.json [%%
 * model.safetensors.index.json [%% extra.safetensors [%% tokenizer.json]]]];
 * an empty part is an empty file, a missing one no file. */
#include "fuzz.h"

#include <limits.h>
#include <sys/stat.h>

static const char *names[] = {"config.json", "model.safetensors", "lr.json", "model.safetensors.index.json",
                              "extra.safetensors", "tokenizer.json"};
#define NNAMES (sizeof names / sizeof *names)
static char dir[PATH_MAX];

static void cleanup(void)
{
    char path[PATH_MAX + 64];
    for (size_t i = 0; i < NNAMES; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    if (!dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/lr-fuzz-dir.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) abort();
        atexit(cleanup);
    }
    fuzz_parts p;
    fuzz_split(d, n, &p);
    char path[PATH_MAX + 64];
    for (size_t i = 0; i < NNAMES; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
        if ((int)i >= p.count) continue;
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(p.p[i], 1, p.n[i], f) != p.n[i] || fclose(f) != 0) abort();
    }
    lr_error e = {{0}};
    lr_checkpoint *ck = lr_checkpoint_load(dir, &e);
    if (ck) {
        lr_checkpoint_digest(ck);
        lr_checkpoint_free(ck);
    } else {
        fuzz_check_error(&e, dir);
    }
    return 0;
}
