/*
 * lr-train - fine-tune a decoder as a dense retriever (contrastive or
 * distillation) or as a language model, fully or with LoRA.
 *
 *   lr-train -m MODEL --train PAIRS.jsonl [--corpus corpus.jsonl] -o OUT.tar
 *   lr-train --init config.json --tokenizer tokenizer.json --objective lm --train text.txt -o OUT.tar
 */
#include "config.h"
#include "lr.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void __attribute__((noreturn)) usage(void)
{
    printf("Usage: lr-train [-m MODEL | --init CONFIG --tokenizer FILE] --train DATA [OPTION]...\n"
           "Fine-tune a model: contrastive (InfoNCE) or distillation for retrieval, or\n"
           "causal language modelling; full fine-tuning or LoRA; AdamW.  Writes the\n"
           "trained checkpoint as a tar (stdout unless -o).\n"
           "\n"
           "Model:\n"
           "  -m, --model PATH          tar file, Hugging Face directory, or - for a tar on\n"
           "                            stdin (default -)\n"
           "      --init CONFIG.json    start from a random initialisation of this config\n"
           "                            (normal(0, 0.02) weights, norms 1); needs --tokenizer\n"
           "      --tokenizer FILE      tokenizer.json for --init\n"
           "  -o, --output FILE         trained model tar (default stdout)\n"
           "\n"
           "Data:\n"
           "      --train PATH          contrastive/distill: JSONL rows {\"query\", \"pos\",\n"
           "                            \"neg\"} of texts, corpus ids or {id, title, text}\n"
           "                            objects, or a BEIR directory (queries.jsonl,\n"
           "                            qrels/train.tsv, corpus.jsonl); lm: plain text\n"
           "                            (blank-line separated) or JSONL with \"text\";\n"
           "                            - = stdin (then -m or --init gives the model)\n"
           "      --corpus FILE         corpus.jsonl: strings in pos/neg are its ids\n"
           "      --hard-negatives FILE JSONL {\"qid\", \"neg\": [ids]} adding hard negatives\n"
           "      --teacher-queries FILE   distill: the teacher's query embeddings\n"
           "      --teacher-passages FILE  distill: the teacher's passage embeddings\n"
           "\n"
           "Objective and schedule:\n"
           "      --objective OBJ       contrastive (default), lm or distill\n"
           "      --epochs N            passes over the data (default 1)\n"
           "      --steps N             optimizer updates (overrides --epochs)\n"
           "      --lr X                peak learning rate (default 2e-5; 1e-4 with LoRA;\n"
           "                            5e-4 with --init)\n"
           "      --batch N             queries (lm: sequences) per micro-batch (default 8)\n"
           "      --negatives N         hard negatives per query (default 1)\n"
           "      --tau X               InfoNCE temperature (default 0.02)\n"
           "      --teacher-tau X       distill: teacher temperature (default 0.02)\n"
           "      --warmup N            warm-up updates (default 0)\n"
           "      --schedule S          constant, linear (default) or cosine decay\n"
           "      --weight-decay X      AdamW weight decay of matrices (default 0.01)\n"
           "      --clip X              clip the gradient norm at X (default 1; 0: off)\n"
           "      --accum N             micro-batches per update (default 1)\n"
           "      --seed N              data order, negatives, LoRA init (default 0)\n"
           "      --chunk N             tokens per forward with graph; larger contrastive\n"
           "                            batches use gradient caching (default 4096)\n"
           "      --dtype TYPE          arithmetic of the projections: f32 (float32, the\n"
           "                            default), bf16 (bfloat16 products summed in fp32;\n"
           "                            needs AVX512-BF16) or fast (bf16 where this CPU\n"
           "                            runs it faster, else f32)\n"
           "\n"
           "LoRA:\n"
           "      --lora-rank N         train rank-N adapters instead of every weight\n"
           "      --lora-alpha X        adapter scale alpha / rank (default 2 * rank)\n"
           "      --lora-targets LIST   projections: q,k,v,o,gate,up,down or all (default)\n"
           "\n"
           "Retrieval settings (recorded in lr.json for lr-encode):\n"
           "      --pooling P           last (default) or mean\n"
           "      --no-normalize        do not L2-normalise embeddings\n"
           "      --normalize           L2-normalise embeddings\n"
           "      --no-eos              do not append EOS to texts\n"
           "      --eos                 append EOS to texts\n"
           "      --query-prefix S      text put before every query\n"
           "      --passage-prefix S    text put before every passage\n"
           "      --max-tokens N        tokens per text (lm: per sequence); default 512\n"
           "\n"
           "Checkpoints:\n"
           "      --save-every N        every N updates write OUTPUT and OUTPUT.state\n"
           "                            (weights and optimizer state); needs -o\n"
           "      --resume STATE        continue a run from its OUTPUT.state (same options)\n"
           "      --log FILE            append \"step loss lr grad-norm tokens\" per update\n"
           "\n"
           "  -t, --threads N           threads (default 0: all cores); -j N is the same\n"
           "  -q, --quiet               no progress on stderr\n"
           "  -h, --help                show this help and exit\n"
           "  -V, --version             show the version and exit\n"
           "\n"
           "Weights train in float32 (master copy) whatever the stored dtype; BF16/F16\n"
           "tensors are rounded back on save.  Under `mpirun -np N` the global batch is\n"
           "split over N ranks (data parallelism; rank 0 writes).  See lr-train(1).\n");
    exit(0);
}

enum {
    OPT_INIT = 256, OPT_TOKENIZER, OPT_CORPUS, OPT_HARDNEG, OPT_TQ, OPT_TP, OPT_OBJECTIVE,
    OPT_EPOCHS, OPT_STEPS, OPT_LR, OPT_BATCH, OPT_NEG, OPT_TAU, OPT_TTAU, OPT_WARMUP,
    OPT_SCHEDULE, OPT_WD, OPT_CLIP, OPT_ACCUM, OPT_SEED, OPT_CHUNK, OPT_LRANK, OPT_LALPHA,
    OPT_LTARGETS, OPT_POOLING, OPT_NONORM, OPT_NOEOS, OPT_QP, OPT_PP, OPT_MAXTOK, OPT_SAVE,
    OPT_RESUME, OPT_LOG, OPT_TRAIN, OPT_NORM, OPT_EOS, OPT_DTYPE
};

int main(int argc, char **argv)
{
    lr_cli_init(argv[0]);
    lr_dist_init(&argc, &argv);
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'},      {"init", required_argument, 0, OPT_INIT},
        {"tokenizer", required_argument, 0, OPT_TOKENIZER},
        {"output", required_argument, 0, 'o'},     {"train", required_argument, 0, OPT_TRAIN},
        {"corpus", required_argument, 0, OPT_CORPUS},
        {"hard-negatives", required_argument, 0, OPT_HARDNEG},
        {"teacher-queries", required_argument, 0, OPT_TQ},
        {"teacher-passages", required_argument, 0, OPT_TP},
        {"objective", required_argument, 0, OPT_OBJECTIVE},
        {"epochs", required_argument, 0, OPT_EPOCHS}, {"steps", required_argument, 0, OPT_STEPS},
        {"lr", required_argument, 0, OPT_LR},      {"batch", required_argument, 0, OPT_BATCH},
        {"negatives", required_argument, 0, OPT_NEG}, {"tau", required_argument, 0, OPT_TAU},
        {"teacher-tau", required_argument, 0, OPT_TTAU},
        {"warmup", required_argument, 0, OPT_WARMUP},
        {"schedule", required_argument, 0, OPT_SCHEDULE},
        {"weight-decay", required_argument, 0, OPT_WD}, {"clip", required_argument, 0, OPT_CLIP},
        {"accum", required_argument, 0, OPT_ACCUM}, {"seed", required_argument, 0, OPT_SEED},
        {"chunk", required_argument, 0, OPT_CHUNK},
        {"dtype", required_argument, 0, OPT_DTYPE},
        {"lora-rank", required_argument, 0, OPT_LRANK},
        {"lora-alpha", required_argument, 0, OPT_LALPHA},
        {"lora-targets", required_argument, 0, OPT_LTARGETS},
        {"pooling", required_argument, 0, OPT_POOLING},
        {"no-normalize", no_argument, 0, OPT_NONORM}, {"no-eos", no_argument, 0, OPT_NOEOS},
        {"query-prefix", required_argument, 0, OPT_QP},
        {"passage-prefix", required_argument, 0, OPT_PP},
        {"max-tokens", required_argument, 0, OPT_MAXTOK},
        {"save-every", required_argument, 0, OPT_SAVE},
        {"resume", required_argument, 0, OPT_RESUME},
        {"log", required_argument, 0, OPT_LOG},
        {"threads", required_argument, 0, 't'},    {"quiet", no_argument, 0, 'q'},
        {"normalize", no_argument, 0, OPT_NORM},   {"eos", no_argument, 0, OPT_EOS},
        {"help", no_argument, 0, 'h'},             {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0}};
    lr_train_opts o;
    lr_train_opts_init(&o);
    const char *model = NULL, *init = NULL, *tokenizer = NULL, *train = NULL, *corpus = NULL;
    const char *hardneg = NULL, *tq = NULL, *tp = NULL, *pooling = NULL, *qp = NULL, *pp = NULL;
    bool lr_set = false;
    int normalize = -1, eos = -1;
    int max_tokens = 0, threads = 0;
    int c;
    while ((c = lr_getopt(argc, argv, "m:o:t:j:qhV", longopts)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case OPT_INIT: init = optarg; break;
        case OPT_TOKENIZER: tokenizer = optarg; break;
        case 'o': o.output = optarg; break;
        case OPT_TRAIN: train = optarg; break;
        case OPT_CORPUS: corpus = optarg; break;
        case OPT_HARDNEG: hardneg = optarg; break;
        case OPT_TQ: tq = optarg; break;
        case OPT_TP: tp = optarg; break;
        case OPT_OBJECTIVE:
            if (lr_objective_parse(optarg, &o.objective))
                lr_usage_error("--objective: expected contrastive, lm or distill, not '%s'", optarg);
            break;
        case OPT_EPOCHS:
            o.epochs = lr_parse_double("--epochs", optarg);
            if (!(o.epochs > 0) || !isfinite(o.epochs)) lr_usage_error("--epochs: must be positive");
            break;
        case OPT_STEPS: o.steps = lr_parse_long("--steps", optarg, 1, INT64_MAX / 1024); break;
        case OPT_LR:
            o.lr = lr_parse_double("--lr", optarg);
            if (!(o.lr > 0) || !isfinite(o.lr))
                lr_usage_error("--lr: learning rate must be positive and finite, not '%s'", optarg);
            lr_set = true;
            break;
        case OPT_BATCH: o.batch = (int)lr_parse_long("--batch", optarg, 1, 1 << 20); break;
        case OPT_NEG: o.negatives = (int)lr_parse_long("--negatives", optarg, 0, 1 << 16); break;
        case OPT_TAU:
        case OPT_TTAU: {
            double v = lr_parse_double(c == OPT_TAU ? "--tau" : "--teacher-tau", optarg);
            if (!(v > 0) || !isfinite(v)) lr_usage_error("%s: must be positive", c == OPT_TAU ? "--tau" : "--teacher-tau");
            *(c == OPT_TAU ? &o.tau : &o.tau_teacher) = v;
            break;
        }
        case OPT_WARMUP: o.warmup = lr_parse_long("--warmup", optarg, 0, INT64_MAX / 1024); break;
        case OPT_SCHEDULE:
            if (lr_schedule_parse(optarg, &o.schedule))
                lr_usage_error("--schedule: expected constant, linear or cosine, not '%s'", optarg);
            break;
        case OPT_WD:
            o.weight_decay = lr_parse_double("--weight-decay", optarg);
            if (!(o.weight_decay >= 0) || !isfinite(o.weight_decay)) lr_usage_error("--weight-decay: must be >= 0");
            break;
        case OPT_CLIP:
            o.clip = lr_parse_double("--clip", optarg);
            if (!(o.clip >= 0) || !isfinite(o.clip)) lr_usage_error("--clip: must be >= 0");
            break;
        case OPT_ACCUM: o.accum = (int)lr_parse_long("--accum", optarg, 1, 1 << 20); break;
        case OPT_SEED: o.seed = (uint64_t)lr_parse_long("--seed", optarg, 0, INT64_MAX); break;
        case OPT_CHUNK: o.chunk = (int)lr_parse_long("--chunk", optarg, 1, 1 << 24); break;
        case OPT_DTYPE:
            if (lr_precision_parse(optarg, &o.dtype) || o.dtype == LR_PREC_INT8)
                lr_usage_error("--dtype: expected f32, bf16 or fast, got '%s'", optarg);
            break;
        case OPT_LRANK: o.lora_rank = (int)lr_parse_long("--lora-rank", optarg, 1, 1 << 16); break;
        case OPT_LALPHA:
            o.lora_alpha = lr_parse_double("--lora-alpha", optarg);
            if (!(o.lora_alpha > 0) || !isfinite(o.lora_alpha)) lr_usage_error("--lora-alpha: must be positive");
            break;
        case OPT_LTARGETS: {
            bool use[7];
            lr_error e;
            if (lr_lora_targets_parse(optarg, use, &e) < 0) lr_usage_error("--lora-targets: %s", e.msg);
            o.lora_targets = optarg;
            break;
        }
        case OPT_POOLING: pooling = optarg; break;
        case OPT_NONORM: normalize = 0; break;
        case OPT_NORM: normalize = 1; break;
        case OPT_NOEOS: eos = 0; break;
        case OPT_EOS: eos = 1; break;
        case OPT_QP: qp = optarg; break;
        case OPT_PP: pp = optarg; break;
        case OPT_MAXTOK: max_tokens = (int)lr_parse_long("--max-tokens", optarg, 2, 1 << 24); break;
        case OPT_SAVE: o.save_every = lr_parse_long("--save-every", optarg, 1, INT64_MAX / 1024); break;
        case OPT_RESUME: o.resume = optarg; break;
        case OPT_LOG:
            if (lr_dist_rank() == 0 && !(o.log = fopen(optarg, "a")))   /* rank 0 logs */
                lr_die("%s: %s", optarg, strerror(errno));
            break;
        case 't':
        case 'j': threads = (int)lr_parse_long("--threads", optarg, 0, 4096); break;
        case 'q': o.quiet = true; break;
        case 'h': usage();
        case 'V': lr_print_version();
        default: lr_usage_error("unknown option");
        }
    }
    if (optind < argc) lr_usage_error("unexpected argument '%s'", argv[optind]);
    if (!train) lr_usage_error("--train is required");
    if (init && model) lr_usage_error("--init and -m are exclusive");
    if (init && !tokenizer) lr_usage_error("--init needs --tokenizer");
    if (tokenizer && !init) lr_usage_error("--tokenizer goes with --init");
    if (o.objective == LR_OBJ_DISTILL && (!tq || !tp))
        lr_usage_error("--objective distill needs --teacher-queries and --teacher-passages");
    if (o.save_every && (!o.output || !strcmp(o.output, "-")))
        lr_usage_error("--save-every needs -o FILE");
    {
        const char *in[] = {init ? NULL : model ? model : "-", train, corpus, hardneg, tq, tp};
        int n_stdin = 0;
        for (size_t i = 0; i < sizeof in / sizeof *in; i++) n_stdin += in[i] && !strcmp(in[i], "-");
        if (n_stdin > 1)
            lr_usage_error("only one input can come from standard input (the model does unless "
                           "-m or --init is given)");
    }
    lr_pooling pool_v = LR_POOL_LAST;
    if (pooling && lr_pooling_parse(pooling, &pool_v))
        lr_usage_error("--pooling: expected last or mean, not '%s'", pooling);
    if (lr_dist_size() > 1 && !init && (!model || !strcmp(model, "-")))
        lr_usage_error("with %d ranks, give the model as -m PATH (standard input reaches rank 0 only)",
                       lr_dist_size());
    if (lr_dist_size() > 1 && !strcmp(train, "-"))
        lr_usage_error("with %d ranks, --train must be a file (standard input reaches rank 0 only)",
                       lr_dist_size());
    lr_refuse_binary_tty(o.output, "a model tar");
    if (!lr_set) o.lr = o.lora_rank ? 1e-4 : init ? 5e-4 : 2e-5;
    o.argc = argc;
    o.argv = argv;
    lr_threads_init(threads);
    /* before the model loads */
    if (o.dtype == LR_PREC_BF16 && !lr_precision_supported(LR_PREC_BF16))
        lr_die("--dtype bf16: this CPU lacks the AVX-512 BF16 instructions");

    lr_error err = {{0}};
    /* lr_dist_check: under MPI, a failure on any rank stops every rank */
    lr_checkpoint *ck = init ? lr_train_init_random(init, tokenizer, o.seed, &err)
                             : lr_checkpoint_load(model ? model : "-", &err);
    if (lr_dist_check(ck ? 0 : -1, &err)) lr_die("%s", err.msg);
    lr_tokenizer *tok = lr_tokenizer_from_checkpoint(ck, &err);
    if (lr_dist_check(tok ? 0 : -1, &err)) lr_die("%s", err.msg);
    lr_retrieval r;
    if (lr_dist_check(lr_retrieval_from_checkpoint(ck, &r, &err), &err)) lr_die("%s", err.msg);
    const lr_retrieval_set set = {.query_prefix = qp, .passage_prefix = pp,
                                  .pooling = pooling ? (int)pool_v : -1, .normalize = normalize,
                                  .append_eos = eos, .max_tokens = max_tokens};
    lr_retrieval_override(&r, &set);

    lr_train_data *data = NULL;
    lr_lm_data *lm = NULL;
    lr_teacher *teacher = NULL;
    if (o.objective == LR_OBJ_LM) {
        lm = lr_lm_data_load(train, tok, max_tokens ? max_tokens : 512, &err);
        if (lr_dist_check(lm ? 0 : -1, &err)) lr_die("%s", err.msg);
    } else {
        data = lr_train_data_load(train, corpus, hardneg, &err);
        if (lr_dist_check(data ? 0 : -1, &err)) lr_die("%s", err.msg);
        int bad = o.objective == LR_OBJ_DISTILL &&
            (!(teacher = lr_teacher_load(tq, tp, &err)) ||
             lr_teacher_check(teacher, data, strcmp(train, "-") ? train : "stdin", &err) < 0);
        if (lr_dist_check(bad ? -1 : 0, &err))
            lr_die("%s", err.msg);
    }
    if (lr_train(ck, tok, &r, &o, data, lm, teacher, &err)) lr_die("%s", err.msg);
    lr_teacher_free(teacher);
    lr_train_data_free(data);
    lr_lm_data_free(lm);
    lr_retrieval_free(&r);
    lr_tokenizer_free(tok);
    lr_checkpoint_free(ck);
    if (o.log && fclose(o.log)) lr_die("log: %s", strerror(errno));
    return 0;
}
