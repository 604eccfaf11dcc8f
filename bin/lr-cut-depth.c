/* lr-cut-depth - drop whole attention and MLP sublayers from a checkpoint. */
#include "config.h"
#include "lr.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(void)
{
    printf("Usage: %s [OPTION]... --mlp-layers LIST --attn-layers LIST\n"
           "Drop whole MLP and attention sublayers (their weights and norms) from a\n"
           "checkpoint, record the new layout and a history entry in lr.json, and\n"
           "write the result as a tar.\n"
           "\n"
           "  -m, --model PATH        input: checkpoint directory, tar file, or - for a\n"
           "                          tar on standard input (the default)\n"
           "  -o, --output FILE       write the tar to FILE (default: standard output)\n"
           "      --mlp-layers LIST   drop the MLP sublayers of these layers\n"
           "      --attn-layers LIST  drop the attention sublayers of these layers\n"
           "  -h, --help              show this help and exit\n"
           "  -V, --version           show the version and exit\n"
           "\n"
           "LIST is comma-separated layer indices and ranges counted from 0, e.g.\n"
           "1,5 or 2-4,7. At least one of --mlp-layers and --attn-layers is needed.\n"
           "Dropping a sublayer that is already dropped is an error.\n"
           "\n"
           "Example: lr-cut-depth --mlp-layers 1,5 --attn-layers 2 < in.tar > out.tar\n",
           lr_progname());
}

/* The selection: which sublayers go.  Kept apart from the surgery so
 * that other ways of choosing (importance scores) fill the same arrays. */
typedef struct {
    const char *mlp_list, *attn_list;
} selection;

static void select_from_lists(const selection *s, const lr_checkpoint *ck, bool *drop_attn, bool *drop_mlp)
{
    int n = ck->cfg.n_layers, *v, k;
    if (s->mlp_list) {
        k = lr_parse_int_list("--mlp-layers", s->mlp_list, n, &v);
        for (int i = 0; i < k; i++) drop_mlp[v[i]] = true;
        free(v);
    }
    if (s->attn_list) {
        k = lr_parse_int_list("--attn-layers", s->attn_list, n, &v);
        for (int i = 0; i < k; i++) drop_attn[v[i]] = true;
        free(v);
    }
}

int main(int argc, char **argv)
{
    lr_cli_init(argv[0]);
    enum { OPT_MLP = 256, OPT_ATTN };
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"output", required_argument, NULL, 'o'},
        {"mlp-layers", required_argument, NULL, OPT_MLP},
        {"attn-layers", required_argument, NULL, OPT_ATTN},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *model = "-", *output = "-";
    selection sel = {NULL, NULL};
    int c;
    while ((c = getopt_long(argc, argv, "m:o:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'o': output = optarg; break;
        case OPT_MLP: sel.mlp_list = optarg; break;
        case OPT_ATTN: sel.attn_list = optarg; break;
        case 'h': usage(); exit(0);
        case 'V': lr_print_version();
        default: lr_usage_error("unknown option");
        }
    }
    if (optind < argc) lr_usage_error("unexpected argument '%s'", argv[optind]);
    if (!sel.mlp_list && !sel.attn_list) lr_usage_error("nothing to drop: give --mlp-layers and/or --attn-layers");
    if (strcmp(output, "-") == 0 && isatty(STDOUT_FILENO))
        lr_usage_error("refusing to write a tar to a terminal: use -o FILE or redirect standard output");

    lr_error err;
    lr_checkpoint *ck = lr_checkpoint_load(model, &err);
    if (!ck) lr_die("%s", err.msg);
    bool *drop_attn = calloc(ck->cfg.n_layers, 1), *drop_mlp = calloc(ck->cfg.n_layers, 1);
    if (!drop_attn || !drop_mlp) lr_die("out of memory");
    select_from_lists(&sel, ck, drop_attn, drop_mlp);
    lr_checkpoint_add_history(ck, argc, argv);
    if (lr_drop_sublayers(ck, drop_attn, drop_mlp, &err)) lr_die("%s", err.msg);
    if (lr_checkpoint_save(ck, output, &err)) lr_die("%s", err.msg);
    free(drop_attn);
    free(drop_mlp);
    lr_checkpoint_free(ck);
    return 0;
}
