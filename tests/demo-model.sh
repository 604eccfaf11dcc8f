#!/bin/sh
# demo-model.sh - pipelines/demo.sh on a given model (LR_MODEL, an
# unpacked 2-layer directory) and collection (LR_DATA): it drops one MLP
# (a third of two layers rounds to none), and its table counts the
# parameters of a directory model too.
. "$(dirname "$0")/lib.sh"
cd "$TMP"
cat > config.json <<'JSON'
{"model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
 "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
 "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
 "vocab_size": 4096, "tie_word_embeddings": true, "bos_token_id": 1, "eos_token_id": 2}
JSON
mkdir -p data/qrels model
i=0
for t in "tides:the moon pulls the oceans" "volcano:lava flows down a mountain" \
         "bread:flour water and yeast" "chess:kings and queens on a board"; do
    printf '{"_id":"d%d","title":"%s","text":"%s"}\n' $i "${t%%:*}" "${t#*:}" >> data/corpus.jsonl
    printf '{"_id":"q%d","text":"what is %s"}\n' $i "${t%%:*}" >> data/queries.jsonl
    printf '{"text":"%s"}\n' "${t#*:}" >> text.jsonl
    printf 'q%d\td%d\t1\n' $i $i >> qrels.body
    i=$((i + 1))
done
{ printf 'query-id\tcorpus-id\tscore\n'; cat qrels.body; } > data/qrels/test.tsv
lr-train -q -t 1 --objective lm --init config.json --tokenizer "$LR_SRCDIR/pipelines/demo/tokenizer.json" \
    --train text.jsonl --steps 1 --batch 4 --seed 1 -o m.tar 2>log || { fail "model: $(cat log)"; finish; }
tar -C model -xf m.tar
LR_MODEL=$TMP/model LR_DATA=$TMP/data LR_WORK=$TMP/work LR_THREADS=1 \
    sh "$LR_SRCDIR/pipelines/demo.sh" > table 2> demo.log ||
    { fail "demo.sh: $(tail -3 demo.log)"; finish; }
grep -q '== dropping the 1 least important MLP sublayers' demo.log &&
    pass "demo.sh drops one MLP of two layers" || fail "demo: $(grep '^==' demo.log)"
# parameters from the config: embeddings (tied), per layer q, k, v, o,
# gate, up, down and two norms, the final norm; the small model lost one
# MLP with its norm and half of the other MLP
full=$(awk 'BEGIN { v = 4096; h = 32; i = 64; kv = 16; L = 2
    layer = h*h + 2*kv*h + h*h + 3*i*h + 2*h; p = v*h + L*layer + h
    printf "%.2fM %.2fM", p / 1e6, (p - (3*i*h + h) - 3*(i/2)*h) / 1e6 }')
got=$(awk '$1 == "full" || $1 == "small" { printf "%s%s", n++ ? " " : "", $4 }' table)
[ "$got" = "$full" ] && pass "params of a directory model and its cut: $got" ||
    fail "params '$got', expected '$full': $(cat table)"
finish
