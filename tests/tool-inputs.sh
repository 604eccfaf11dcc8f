#!/bin/sh
# tool-inputs.sh - inputs the tools share: training pairs read alike by
# lr-score and lr-train, lr-train --train -, errors that name the file and
# the record, the learning-rate schedule's last update, --keep 1 under
# --multiple-of.
. "$(dirname "$0")/lib.sh"
cd "$TMP"
toy_config config.json 3
printf '{"text":"the moon pulls the oceans"}\n{"text":"bees make honey"}\n' > text.jsonl
toy_model m.tar --steps 1 --batch 2

# ---- training pairs: lr-score reads what lr-train reads ----
# each row: a query, a string positive, an object positive, a string negative
cat > pairs.jsonl <<'EOF'
{"qid": "q0", "query": "what pulls the sea", "pos": ["the moon pulls the oceans", {"id": "p0", "text": "tides rise twice a day"}], "neg": ["lava flows down"]}

{"qid": "q1", "query": "where is honey made", "pos": ["bees make honey in a hive", {"id": "p1", "title": "Bees", "text": "insects collect nectar"}], "neg": ["flour water and yeast"]}
EOF
# the same texts as lr-encode reads them: queries, then passages
printf 'q0\twhat pulls the sea\nq1\twhere is honey made\n' > q.tsv
printf 'a\tthe moon pulls the oceans\nb\ttides rise twice a day\nc\tlava flows down\nd\tbees make honey in a hive\ne\tBees insects collect nectar\nf\tflour water and yeast\n' > p.tsv
ntok() { lr-encode -m m.tar "$1" "$2" --tokenize 2>>log | tr -cd ',\n' | awk '{ n += length($0) + 1 } END { print n }'; }
want=$(( $(ntok --queries q.tsv) + $(ntok --corpus p.tsv) ))
calib_tokens() { lr-score --show "$1" | sed -n 's/.* layers, \([0-9]*\) calibration tokens.*/\1/p'; }
lr-score -q -t 1 -m m.tar --calib pairs.jsonl -o s.mp 2>>log
got=$(calib_tokens s.mp)
[ -n "$want" ] && [ "$got" = "$want" ] && pass "lr-score reads every query, positive and negative of pairs ($got tokens)" ||
    fail "pairs: $got calibration tokens, the texts have $want"
lr-train -q -t 1 -m m.tar --train pairs.jsonl --steps 1 --batch 2 -o t.tar 2>>log &&
    pass "lr-train reads the same pairs" || fail "lr-train pairs: $(tail -1 log)"
# strings as ids of --corpus, in both tools
printf '{"_id":"d1","text":"the moon pulls the oceans"}\n{"_id":"d2","text":"lava flows down"}\n' > corpus.jsonl
printf '{"query": "what pulls the sea", "pos": ["d1"], "neg": ["d2"]}\n' > idpairs.jsonl
printf 'q\twhat pulls the sea\n' > q1.tsv
want=$(( $(ntok --queries q1.tsv) + $(ntok --corpus corpus.jsonl) ))
lr-score -q -t 1 -m m.tar --calib idpairs.jsonl --corpus corpus.jsonl -o s2.mp 2>>log
[ "$(calib_tokens s2.mp)" = "$want" ] && pass "lr-score --corpus resolves ids as lr-train does" ||
    fail "ids: $(calib_tokens s2.mp) tokens, want $want: $(tail -1 log)"
printf '{"_id":"x1","text":"something else"}\n' > other.jsonl
expect_error "an unknown corpus id names the file and line" 'idpairs.jsonl: line 1: unknown corpus id "d1"' s3.mp -- \
    lr-score -q -m m.tar --calib idpairs.jsonl --corpus other.jsonl -o s3.mp

# ---- lr-train --train - ----
lr-train -q -t 1 -m m.tar --train - --steps 1 --batch 2 -o t2.tar < pairs.jsonl 2>>log && [ -s t2.tar ] &&
    pass "lr-train --train - reads standard input" || fail "--train -: $(tail -1 log)"
expect_usage "model and pairs cannot both be stdin" "only one input can come from standard input" \
    lr-train --train - -o t3.tar
printf '{"query": "x"}\n' | lr-train -q -m m.tar --train - -o t4.tar 2>err
grep -q '^lr-train: stdin: line 1: no positive passage$' err && pass "bad rows on stdin are named stdin" ||
    fail "stdin error: $(cat err)"

# ---- errors that name their place ----
expect_usage "--lora-targets is checked as an option" "--lora-targets: LoRA target \"foo\": expected q, k, v, o, gate, up, down or all; try" \
    lr-train --lora-rank 4 --lora-targets q,foo --train pairs.jsonl -m m.tar -o t5.tar
echo '[[5, 6, 7], [5, 99999, 7]]' > ids.json
expect_error "--calib-ids: an id outside the vocabulary" \
    '^lr-score: ids.json: sequence 1, position 1: token id 99999 is outside the vocabulary \(size 4096\)$' s4.mp -- \
    lr-score -q -m m.tar --calib-ids ids.json -o s4.mp
# distillation: teacher streams for q0, q1 and the object positives p0, p1
lr-encode -q -m m.tar --queries q.tsv -o tq.mp 2>>log
printf 'p0\ttides rise twice a day\np1\tBees insects collect nectar\n' > tp.tsv
lr-encode -q -m m.tar --corpus tp.tsv -o tp.mp 2>>log
printf '{"qid": "q0", "query": "what pulls the sea", "pos": [{"id": "p0", "text": "tides rise twice a day"}]}\n{"query": "where is honey made", "pos": [{"id": "p1", "text": "insects collect nectar"}]}\n' > noqid.jsonl
expect_error "distill: a query without an id" \
    '^lr-train: noqid.jsonl: line 2: the query has no id \("qid"\): distillation looks up the teacher' t6.tar -- \
    lr-train -q -m m.tar --objective distill --teacher-queries tq.mp --teacher-passages tp.mp --train noqid.jsonl -o t6.tar
sed 's/"q0"/"q9"/' noqid.jsonl | head -1 > unknown.jsonl
expect_error "distill: a query id the teacher lacks" \
    '^lr-train: unknown.jsonl: line 1: query id "q9" has no embedding in tq.mp$' t7.tar -- \
    lr-train -q -m m.tar --objective distill --teacher-queries tq.mp --teacher-passages tp.mp --train unknown.jsonl -o t7.tar
expect_error "distill: a passage given as text" \
    '^lr-train: pairs.jsonl: line 1: a positive given as text, without an id' t8.tar -- \
    lr-train -q -m m.tar --objective distill --teacher-queries tq.mp --teacher-passages tp.mp --train pairs.jsonl -o t8.tar

# ---- schedules reach 0 at the last update ----
for s in linear cosine; do
    rm -f $s.log
    lr-train -q -t 1 -m m.tar --train pairs.jsonl --batch 1 --steps 3 --lr 1e-3 --schedule $s --log $s.log -o /dev/null 2>>log
    # update s of T = 3 at lr (1 - t) or lr (1 + cos(pi t)) / 2, t = s / 2
    awk -v s=$s 'BEGIN { pi = atan2(0, -1) }
        { t = ($1 - 1) / 2; want = s == "linear" ? 1e-3 * (1 - t) : 1e-3 * (1 + cos(pi * t)) / 2
          if ($3 - want > 1e-9 || want - $3 > 1e-9) bad = 1; n++ }
        END { exit bad || n != 3 }' $s.log && pass "$s schedule: $(awk '{ printf "%s ", $3 }' $s.log)" ||
        fail "$s schedule: $(cat $s.log)"
done

# ---- --keep 1 keeps every channel, whatever --multiple-of ----
lr-score -q -t 1 -m m.tar --calib corpus.jsonl -o w.mp 2>>log
lr-cut-width --scores w.mp --keep 1 --multiple-of 48 -m m.tar -o k1.tar 2>err &&
    grep -q 'MLP channels 192 -> 192 (100.0%); widths: 64 64 64' err && pass "--keep 1 --multiple-of 48 keeps 64" ||
    fail "--keep 1: $(cat err)"
lr-cut-width --scores w.mp --keep 0.9 --multiple-of 48 -m m.tar -o k2.tar 2>err &&
    grep -q 'widths: 48 48 48' err && pass "--keep 0.9 --multiple-of 48 still rounds (57.6 -> 48)" ||
    fail "--keep 0.9: $(cat err)"
finish
