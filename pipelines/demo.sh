#!/bin/sh
# demo.sh - the whole lr pipeline end to end, on a default that needs no
# download: a small Llama-architecture retriever pretrained and fine-tuned
# on this machine's man pages, then compressed EffiR-style (score, drop MLP
# sublayers, prune channels, recover) and evaluated against the full model.
#
#   LR_MODEL=DIR|TAR   start from this checkpoint instead of pretraining
#   LR_DATA=DIR        evaluate on this BEIR directory (corpus.jsonl,
#                      queries.jsonl, qrels/test.tsv); training pairs from
#                      LR_TRAIN (JSONL {"query","pos","neg"}) if given
#   LR_WORK=DIR        working directory (default: demo-work); a rerun
#                      reuses the collection and the models found there
#   LR_DROP_MLP=N      MLP sublayers to drop (default: a third of them, at
#                      least one when the model has two layers or more;
#                      0 skips the depth cut)
#   LR_KEEP=F          fraction of MLP channels kept (default 0.5)
#   LR_PRETRAIN_STEPS=N  updates of the causal-LM pretraining (default 300)
#   LR_EPOCHS=N        epochs of the contrastive fine-tuning (default 10)
#   LR_THREADS=N       threads (default: all cores)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=${LR_WORK:-demo-work}
keep=${LR_KEEP:-0.5}
mkdir -p "$work"
T=${LR_THREADS:+--threads $LR_THREADS}
say() { printf '\n== %s\n' "$*" >&2; }
start=$(date +%s)

# ---- data ----
if [ -n "${LR_DATA:-}" ]; then
    data=$LR_DATA
    train=${LR_TRAIN:-}
else
    data=$work/data
    if [ ! -s "$data/corpus.jsonl" ]; then
        say "collection from the man pages of this machine"
        sh "$here/demo/manpages.sh" "$data" 2500
    fi
    train=$data/train.jsonl
fi

# ---- the full retriever ----
# A model this small learns retrieval far better with mean pooling than
# with the last token (nDCG@10 0.14 against 0.02 on the man pages), so the
# demo trains with --pooling mean; lr.json carries it to lr-encode.
if [ -n "${LR_MODEL:-}" ]; then
    full=$LR_MODEL
else
    if [ ! -s "$work/base.tar" ]; then
        say "pretraining a small Llama on the man pages (causal LM)"
        cat > "$work/config.json" <<'JSON'
{"architectures": ["LlamaForCausalLM"], "model_type": "llama",
 "hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 6,
 "num_attention_heads": 2, "num_key_value_heads": 1,
 "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
 "vocab_size": 4096, "hidden_act": "silu", "tie_word_embeddings": true,
 "torch_dtype": "float32", "bos_token_id": 1, "eos_token_id": 2}
JSON
        lr-train $T --objective lm --init "$work/config.json" \
            --tokenizer "$here/demo/tokenizer.json" --train "$data/pretrain.jsonl" \
            --max-tokens 128 --batch 32 --steps ${LR_PRETRAIN_STEPS:-300} --lr 2e-3 \
            --warmup 30 --schedule cosine --seed 1 -o "$work/base.tar"
    fi
    if [ ! -s "$work/full.tar" ]; then
        say "contrastive fine-tuning into a retriever"
        lr-train $T -m "$work/base.tar" --objective contrastive --train "$train" \
            --batch 32 --epochs ${LR_EPOCHS:-10} --lr 2e-3 --warmup 10 --seed 1 \
            --tau 0.05 --pooling mean --max-tokens 128 -o "$work/full.tar"
    fi
    full=$work/full.tar
fi

# ---- compression, coarse to fine ----
say "sublayer importance of the full retriever"
lr-score $T -m "$full" --calib "$data/corpus.jsonl" --calib-tokens 50000 --summary -o "$work/scores.mp"
layers=$(lr-score --show "$work/scores.mp" | sed -n 's/.*, \([0-9]*\) layers,.*/\1/p')
# a third of the MLPs, at least one (but never the only one: the width cut
# needs an MLP to narrow)
default_drop=$((layers / 3))
[ "$default_drop" -eq 0 ] && [ "$layers" -ge 2 ] && default_drop=1
drop=${LR_DROP_MLP:-$default_drop}
if [ "$drop" -gt 0 ]; then
    say "dropping the $drop least important MLP sublayers"
    lr-cut-depth --scores "$work/scores.mp" --drop-mlp "$drop" -m "$full" -o "$work/depth.tar"
    lr-score $T -m "$work/depth.tar" --calib "$data/corpus.jsonl" --calib-tokens 50000 -o "$work/scores-depth.mp"
    depth=$work/depth.tar depth_scores=$work/scores-depth.mp
else
    say "no MLP sublayer dropped"
    depth=$full depth_scores=$work/scores.mp
fi
say "keeping $keep of the channels of every remaining MLP"
lr-cut-width --scores "$depth_scores" --keep "$keep" -m "$depth" -o "$work/cut.tar"
if [ -n "$train" ]; then
    say "recovery: contrastive fine-tuning of the compressed model"
    lr-train $T -m "$work/cut.tar" --objective contrastive --train "$train" \
        --batch 32 --epochs 3 --lr 1e-3 --warmup 10 --seed 2 \
        --tau 0.05 --max-tokens 128 -o "$work/small.tar"
    small=$work/small.tar
else
    small=$work/cut.tar
fi

# ---- evaluation ----
for m in full small; do
    eval model=\$$m
    say "encoding and evaluating the $m model"
    t0=$(date +%s.%N)
    lr-encode $T -m "$model" --corpus "$data/corpus.jsonl" -o "$work/$m-docs.mp" 2> "$work/$m-encode.log"
    t1=$(date +%s.%N)
    lr-encode $T -m "$model" --queries "$data/queries.jsonl" -o "$work/$m-queries.mp" 2>> "$work/$m-encode.log"
    lr-eval --qrels "$data/qrels/test.tsv" --queries "$work/$m-queries.mp" \
        --docs "$work/$m-docs.mp" -m ndcg_cut.10 -m recall.100 --format tsv > "$work/$m-metrics.tsv"
    echo "$t0 $t1" > "$work/$m-time"
done

# parameters: sum of the tensor shapes in the safetensors headers (of a
# tar, or of every .safetensors file of a directory)
headers() {
    if [ -d "$1" ]; then
        for f in "$1"/*.safetensors; do head -c 2000000 "$f"; done
    else
        for f in $(tar -tf "$1" | grep '\.safetensors$'); do tar -xOf "$1" "$f" | head -c 2000000; done
    fi
}
params() {
    headers "$1" | grep -ao '"shape":\[[0-9,]*\]' | tr -dc '0-9,\n' |
        awk -F, '{ p = 1; for (i = 1; i <= NF; i++) p *= $i; s += p } END { printf "%.2fM", s / 1e6 }'
}
metric() { awk -v m="$2" '$1 == m && $2 == "all" { print $3 }' "$1"; }
docs=$(wc -l < "$data/corpus.jsonl")
printf '\n%-8s %9s %10s %9s %12s\n' model nDCG@10 Recall@100 params "docs/s"
for m in full small; do
    model=$full; [ $m = small ] && model=$small
    p=$(params "$model")
    rate=$(awk -v d="$docs" '{ printf "%.1f", d / ($2 - $1) }' "$work/$m-time")
    printf '%-8s %9s %10s %9s %12s\n' $m "$(metric "$work/$m-metrics.tsv" ndcg_cut_10)" \
        "$(metric "$work/$m-metrics.tsv" recall_100)" "$p" "$rate"
done
echo "demo: $(( $(date +%s) - start )) s in all; work files in $work" >&2
