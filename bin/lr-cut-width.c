/* lr-cut-width - prune MLP channels by importance scores. */
#include "config.h"
#include "lr.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Chosen by measurement (see lr-cut-width(1)). */
#define DEFAULT_MULTIPLE 1

static void __attribute__((noreturn)) usage(void)
{
    printf("Usage: %s --scores FILE (--keep F | --width N) [OPTION]... [< in.tar] [> out.tar]\n"
           "  or:  %s --channels FILE [OPTION]...\n"
           "Keep the most important channels of every MLP (rows of gate_proj and up_proj,\n"
           "columns of down_proj, in their order) and write the narrower model as a tar.\n"
           "\n"
           "  -m, --model PATH       model: tar file or HF directory (default: tar on stdin)\n"
           "  -o, --output FILE      write the model to FILE (default: standard output)\n"
           "  -s, --scores FILE      scores stream of this model or of an ancestor it was\n"
           "                         cut from, from lr-score\n"
           "      --keep F           keep the fraction F (0 < F <= 1) of the channels\n"
           "  -w, --width N          keep N channels per MLP (the mean width under --global)\n"
           "      --uniform          the same fraction of every MLP (default)\n"
           "      --global           one importance threshold across all MLPs\n"
           "      --floor F          under --global, keep at least the fraction F of every\n"
           "                         MLP (default 0.1)\n"
           "      --multiple-of M    round computed widths to a multiple of M (default %d:\n"
           "                         no rounding); an explicit --width is kept as given\n"
           "      --channels FILE    keep exactly the channels listed in FILE: JSON\n"
           "                         {\"<layer>\": [channel, ...]} or an lr.json with\n"
           "                         kept_channels (full-width channel numbers)\n"
           "  -t, --threads N        threads (default 0: all cores; the surgery itself\n"
           "                         runs on one)\n"
           "  -q, --quiet            no summary of the new widths on stderr\n"
           "  -h, --help             show this help and exit\n"
           "  -V, --version          show the version and exit\n",
           lr_progname(), lr_progname(), DEFAULT_MULTIPLE);
    exit(0);
}

int main(int argc, char **argv)
{
    lr_cli_init(argv[0]);
    enum { OPT_KEEP = 256, OPT_UNIFORM, OPT_GLOBAL, OPT_FLOOR, OPT_MULTIPLE, OPT_CHANNELS };
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},   {"output", required_argument, 0, 'o'},
        {"scores", required_argument, 0, 's'},  {"keep", required_argument, 0, OPT_KEEP},
        {"width", required_argument, 0, 'w'},   {"uniform", no_argument, 0, OPT_UNIFORM},
        {"global", no_argument, 0, OPT_GLOBAL}, {"floor", required_argument, 0, OPT_FLOOR},
        {"multiple-of", required_argument, 0, OPT_MULTIPLE},
        {"channels", required_argument, 0, OPT_CHANNELS},
        {"threads", required_argument, 0, 't'},
        {"quiet", no_argument, 0, 'q'},         {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},       {0, 0, 0, 0}};
    const char *model = NULL, *output = NULL, *scores_path = NULL, *channels = NULL;
    lr_width_opts wo = {.floor = 0.1, .multiple_of = DEFAULT_MULTIPLE};
    bool quiet = false, mode_given = false, floor_given = false;
    int c, threads = 0;
    while ((c = lr_getopt(argc, argv, "m:o:s:k:w:t:qhV", opts)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'o': output = optarg; break;
        case 's': scores_path = optarg; break;
        case 'k':
            lr_usage_error("-k is lr-eval's --top; say --keep F");
        case OPT_KEEP:
            wo.keep = lr_parse_double("--keep", optarg);
            if (!(wo.keep > 0 && wo.keep <= 1))
                lr_usage_error("--keep: %s is outside (0, 1]", optarg);
            break;
        case 'w': wo.width = (int)lr_parse_long("--width", optarg, 1, 1L << 30); break;
        case OPT_UNIFORM: wo.global = false, mode_given = true; break;
        case OPT_GLOBAL: wo.global = true, mode_given = true; break;
        case OPT_FLOOR:
            wo.floor = lr_parse_double("--floor", optarg);
            if (!(wo.floor >= 0 && wo.floor <= 1))
                lr_usage_error("--floor: %s is outside [0, 1]", optarg);
            floor_given = true;
            break;
        case OPT_MULTIPLE: wo.multiple_of = (int)lr_parse_long("--multiple-of", optarg, 1, 1 << 20); break;
        case OPT_CHANNELS: channels = optarg; break;
        case 't': threads = (int)lr_parse_long("--threads", optarg, 0, 4096); break;
        case 'q': quiet = true; break;
        case 'h': usage();
        case 'V': lr_print_version();
        default: lr_usage_error("unknown option");
        }
    }
    if (optind < argc) lr_usage_error("unexpected argument '%s'", argv[optind]);
    if (channels) {
        if (scores_path || wo.keep > 0 || wo.width > 0 || mode_given || floor_given)
            lr_usage_error("--channels excludes --scores, --keep, --width, --uniform, --global "
                           "and --floor");
    } else {
        if (!scores_path) lr_usage_error("--scores FILE is required (or --channels FILE)");
        if ((wo.keep > 0) == (wo.width > 0)) lr_usage_error("give one of --keep F and --width N");
        if (floor_given && !wo.global) lr_usage_error("--floor applies to --global only");
    }
    lr_refuse_binary_tty(output, "a model tar");

    lr_threads_init(threads);
    lr_error err = {{0}};
    lr_scores *s = NULL;
    if (scores_path && !(s = lr_scores_load(scores_path, &err))) lr_die("%s", err.msg);
    lr_checkpoint *ck = lr_checkpoint_load(model, &err);
    if (!ck) lr_die("%s", err.msg);
    lr_width_plan *plan;
    if (channels) {
        plan = lr_channels_load(channels, ck, &err);
    } else {
        int stages;
        if (lr_scores_align(s, ck, scores_path, &stages, &err) < 0) lr_die("%s", err.msg);
        if (stages > 0)
            lr_warn("%s: scores of an ancestor of %s (%d stage%s back); using them for the "
                    "MLPs that survive (scoring the model being cut is more faithful)",
                    scores_path, ck->source, stages, stages > 1 ? "s" : "");
        if (wo.width > ck->cfg.intermediate)
            lr_usage_error("--width: %d is above the full MLP width %d", wo.width,
                           ck->cfg.intermediate);
        plan = lr_select_channels(s, &wo, &err);
    }
    if (!plan) lr_die("%s", err.msg);
    int *before = malloc(ck->cfg.n_layers * sizeof *before);
    if (!before) lr_die("out of memory");
    for (int l = 0; l < ck->cfg.n_layers; l++) before[l] = ck->layers[l].mlp;
    if (lr_cut_width(ck, plan, &err) < 0) lr_die("%s", err.msg);
    lr_checkpoint_add_history(ck, argc, argv);
    if (!quiet) {
        long long b = 0, a = 0;
        for (int l = 0; l < ck->cfg.n_layers; l++) b += before[l], a += ck->layers[l].mlp;
        fprintf(stderr, "%s: MLP channels %lld -> %lld (%.1f%%); widths:", lr_progname(), b, a,
                b ? 100.0 * a / b : 0.0);
        for (int l = 0; l < ck->cfg.n_layers; l++) fprintf(stderr, " %d", ck->layers[l].mlp);
        fprintf(stderr, "\n");
    }
    if (lr_checkpoint_save(ck, output, &err) < 0) lr_die("%s", err.msg);
    free(before);
    lr_width_plan_free(plan);
    lr_scores_free(s);
    lr_checkpoint_free(ck);
    return 0;
}
