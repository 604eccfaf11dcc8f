#!/bin/sh
# man-makefile.sh - lr(7)'s Makefile pattern, copied literally (from the
# page's source and, where man is installed, from the page as man shows
# it), runs a sweep on a toy model, creates its directories, keeps the
# models and embeddings, and resumes an interrupted sweep without
# redoing what is done.
. "$(dirname "$0")/lib.sh"
cd "$TMP"
cat > config.json <<'JSON'
{"model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
 "num_hidden_layers": 4, "num_attention_heads": 2, "num_key_value_heads": 1,
 "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
 "vocab_size": 4096, "tie_word_embeddings": true, "bos_token_id": 1, "eos_token_id": 2}
JSON
i=0
for t in "tides:the moon pulls the oceans" "volcano:lava flows down a mountain" \
         "bread:flour water and yeast" "chess:kings and queens on a board"; do
    printf '{"_id":"d%d","title":"%s","text":"%s"}\n' $i "${t%%:*}" "${t#*:}" >> corpus.jsonl
    printf '{"_id":"q%d","text":"what is %s"}\n' $i "${t%%:*}" >> queries.jsonl
    printf '{"text":"%s"}\n' "${t#*:}" >> text.jsonl
    printf 'q%d\td%d\t1\n' $i $i >> qrels.body
    i=$((i + 1))
done
{ printf 'query-id\tcorpus-id\tscore\n'; cat qrels.body; } > qrels.tsv
lr-train -q -t 1 --objective lm --init config.json --tokenizer "$LR_SRCDIR/pipelines/demo/tokenizer.json" \
    --train text.jsonl --steps 1 --batch 4 --seed 1 -o base.tar 2>log || { fail "model: $(cat log)"; finish; }

# the block from the page's source: the .nf block after "Makefile patterns"
awk '/^\.SS Makefile patterns/ { s = 1 } s && /^\.nf/ { on = 1; next } on && /^\.fi/ { exit } on' \
    "$LR_SRCDIR/man/lr.7" | sed 's/\\e/\\/g; s/\\-/-/g' > source.mk
grep -q 'lr-cut-depth' source.mk || fail "no Makefile in lr(7): $(cat source.mk)"

sweep() {   # sweep NAME MAKEFILE: run it in a fresh directory
    rm -rf "sweep-$1" && mkdir "sweep-$1" && cp base.tar corpus.jsonl queries.jsonl qrels.tsv "sweep-$1/"
    cp "$2" "sweep-$1/Makefile"
    cd "sweep-$1"
    # LR_THREADS is not the tools' business; one thread each keeps make -j2 polite
    if make -s -j2 DROPS="1 2" > make.out 2>&1; then pass "$1: the sweep runs"
    else fail "$1: make: $(tail -3 make.out)"; cd ..; return; fi
    for f in eval/mlp1.tsv eval/mlp2.tsv; do
        awk '$1 == "ndcg_cut_10" && $2 == "all" && $3 >= 0 && $3 <= 1 { ok = 1 } END { exit !ok }' $f ||
            fail "$1: $f: $(cat $f)"
    done
    [ -s models/mlp1.tar ] && [ -s models/mlp2.tar ] && [ -s emb/mlp2.docs.mp ] &&
        pass "$1: models and embeddings kept" || fail "$1: intermediates deleted: $(ls -R)"
    # an interrupted sweep: the last evaluation and one embedding are gone
    rm eval/mlp2.tsv emb/mlp2.docs.mp
    make -n DROPS="1 2" > redo 2>&1
    if grep -q 'lr-encode.*--corpus' redo && grep -q 'lr-eval' redo && ! grep -q 'lr-score\|lr-cut-depth\|--queries queries.jsonl' redo; then
        pass "$1: a resumed sweep redoes only what is missing"
    else
        fail "$1: resume would run: $(cat redo)"
    fi
    make -s DROPS="1 2 3" > make.out 2>&1 && [ -s eval/mlp3.tsv ] && [ -s eval/mlp2.tsv ] &&
        pass "$1: the sweep extends" || fail "$1: extend: $(tail -3 make.out)"
    cd ..
}
sweep source source.mk
# as man shows it: indented, tabs gone, in the C locale's ASCII
if command -v man >/dev/null && LC_ALL=C MANWIDTH=200 man -l "$LR_SRCDIR/man/lr.7" > page.txt 2>/dev/null &&
    [ -s page.txt ]; then
    awk '/^ *DROPS = / { on = 1 } on { print } on && /^ *\.SECONDARY:/ { exit }' page.txt > shown.mk
    sweep shown shown.mk
else
    skip_part "man absent: the page as shown not tried"
fi
finish
