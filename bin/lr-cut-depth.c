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
           "  or:  %s --scores FILE --drop-mlp N [--drop-attn M] [OPTION]...\n"
           "Drop whole MLP and attention sublayers (their weights and norms) from a\n"
           "checkpoint, record the new layout and a history entry in lr.json, and\n"
           "write the result as a tar.\n"
           "\n"
           "  -m, --model PATH        input: checkpoint directory, tar file, or - for a\n"
           "                          tar on standard input (the default)\n"
           "  -o, --output FILE       write the tar to FILE (default: standard output)\n"
           "      --mlp-layers LIST   drop the MLP sublayers of these layers\n"
           "      --attn-layers LIST  drop the attention sublayers of these layers\n"
           "  -s, --scores FILE       importance scores of this model (from lr-score)\n"
           "      --drop-mlp N        drop the N least important MLP sublayers\n"
           "      --drop-attn M       drop the M least important attention sublayers\n"
           "      --keep-first K      never drop by score in the first K layers\n"
           "      --keep-last K       never drop by score in the last K layers\n"
           "  -t, --threads N         threads (default 0: all cores; the surgery itself\n"
           "                          runs on one)\n"
           "  -h, --help              show this help and exit\n"
           "  -V, --version           show the version and exit\n"
           "\n"
           "LIST is comma-separated layer indices and ranges counted from 0, e.g.\n"
           "1,5 or 2-4,7. Sublayers named by lists are dropped first; --drop-mlp and\n"
           "--drop-attn then choose among the other present sublayers by importance.\n"
           "Dropping a sublayer that is already dropped is an error.\n"
           "\n"
           "Example: lr-cut-depth --mlp-layers 1,5 --attn-layers 2 < in.tar > out.tar\n"
           "         lr-cut-depth --scores scores.mp --drop-mlp 4 < in.tar > out.tar\n",
           lr_progname(), lr_progname());
}

/* The selection: which sublayers go.  Kept apart from the surgery so
 * that other ways of choosing (importance scores) fill the same arrays. */
typedef struct {
    const char *mlp_list, *attn_list;
    const char *scores;                 /* by importance: */
    int drop_mlp, drop_attn, keep_first, keep_last;
    bool by_score;                      /* --drop-mlp or --drop-attn given */
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

/* The least important sublayers of the scores (which must be this
 * model's), among those the lists left. */
static void select_by_scores(const selection *s, const lr_scores *sc, lr_checkpoint *ck, bool *drop_attn,
                             bool *drop_mlp)
{
    lr_error err;
    if (lr_scores_check_model(sc, ck, s->scores, &err) < 0 ||
        lr_select_sublayers(sc, s->drop_attn, s->drop_mlp, s->keep_first, s->keep_last, drop_attn, drop_mlp,
                            &err) < 0)
        lr_die("%s", err.msg);
}

int main(int argc, char **argv)
{
    lr_cli_init(argv[0]);
    enum { OPT_MLP = 256, OPT_ATTN, OPT_DROP_MLP, OPT_DROP_ATTN, OPT_KEEP_FIRST, OPT_KEEP_LAST };
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"output", required_argument, NULL, 'o'},
        {"mlp-layers", required_argument, NULL, OPT_MLP},
        {"attn-layers", required_argument, NULL, OPT_ATTN},
        {"scores", required_argument, NULL, 's'},
        {"drop-mlp", required_argument, NULL, OPT_DROP_MLP},
        {"drop-attn", required_argument, NULL, OPT_DROP_ATTN},
        {"keep-first", required_argument, NULL, OPT_KEEP_FIRST},
        {"keep-last", required_argument, NULL, OPT_KEEP_LAST},
        {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *model = "-", *output = "-";
    selection sel = {NULL, NULL, NULL, 0, 0, 0, 0, false};
    int c, threads = 0;
    while ((c = lr_getopt(argc, argv, "m:o:s:t:hV", opts)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'o': output = optarg; break;
        case OPT_MLP: sel.mlp_list = optarg; break;
        case OPT_ATTN: sel.attn_list = optarg; break;
        case 's': sel.scores = optarg; break;
        case OPT_DROP_MLP:
            sel.drop_mlp = (int)lr_parse_long("--drop-mlp", optarg, 0, 1 << 20);
            sel.by_score = true;
            break;
        case OPT_DROP_ATTN:
            sel.drop_attn = (int)lr_parse_long("--drop-attn", optarg, 0, 1 << 20);
            sel.by_score = true;
            break;
        case OPT_KEEP_FIRST: sel.keep_first = (int)lr_parse_long("--keep-first", optarg, 0, 1 << 20); break;
        case OPT_KEEP_LAST: sel.keep_last = (int)lr_parse_long("--keep-last", optarg, 0, 1 << 20); break;
        case 't': threads = (int)lr_parse_long("--threads", optarg, 0, 4096); break;
        case 'h': usage(); exit(0);
        case 'V': lr_print_version();
        default: lr_usage_error("unknown option");
        }
    }
    if (optind < argc) lr_usage_error("unexpected argument '%s'", argv[optind]);
    bool by_score = sel.by_score;
    if (!sel.mlp_list && !sel.attn_list && !by_score)
        lr_usage_error("nothing to drop: give --mlp-layers and/or --attn-layers, or --scores with --drop-mlp "
                       "and/or --drop-attn");
    if (by_score != (sel.scores != NULL))
        lr_usage_error(by_score ? "--drop-mlp and --drop-attn need --scores FILE"
                                : "--scores needs --drop-mlp N and/or --drop-attn M");
    if (by_score && sel.drop_mlp == 0 && sel.drop_attn == 0 && !sel.mlp_list && !sel.attn_list)
        lr_usage_error("nothing to drop: --drop-mlp and --drop-attn are 0");
    if ((sel.keep_first || sel.keep_last) && !by_score)
        lr_usage_error("--keep-first and --keep-last apply to --drop-mlp and --drop-attn");
    lr_refuse_binary_tty(output, "a model tar");

    lr_threads_init(threads);
    lr_error err;
    lr_scores *sc = NULL;   /* read first: a bad stream fails before the model is read */
    if (sel.scores && !(sc = lr_scores_load(sel.scores, &err))) lr_die("%s", err.msg);
    lr_checkpoint *ck = lr_checkpoint_load(model, &err);
    if (!ck) lr_die("%s", err.msg);
    bool *drop_attn = calloc(ck->cfg.n_layers, 1), *drop_mlp = calloc(ck->cfg.n_layers, 1);
    if (!drop_attn || !drop_mlp) lr_die("out of memory");
    select_from_lists(&sel, ck, drop_attn, drop_mlp);
    if (sc) select_by_scores(&sel, sc, ck, drop_attn, drop_mlp);
    lr_checkpoint_add_history(ck, argc, argv);
    if (lr_drop_sublayers(ck, drop_attn, drop_mlp, &err)) lr_die("%s", err.msg);
    if (lr_checkpoint_save(ck, output, &err)) lr_die("%s", err.msg);
    free(drop_attn);
    free(drop_mlp);
    lr_scores_free(sc);
    lr_checkpoint_free(ck);
    return 0;
}
