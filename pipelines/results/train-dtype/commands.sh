# Does lr-train --dtype bf16 train as good a retriever as f32?  The last
# fine-tuning stage of the twelve-layer last-token retriever
# (pipelines/results/last-token; backbone.mk with LAYERS=12 POOLING=last
# PRETRAIN_STEPS=600 WEAK_EPOCHS=3 FT_EPOCHS=2, see
# pipelines/results/twelve-layers/commands.sh) is repeated from the same
# weak.tar in bf16, and in f32 with a second seed as the control.  The
# f32 seed-1 model is that retriever itself (the same options, all
# cores).  The bf16 and seed-2 models were trained one thread each, by
# hand with the lr-train command train-dtype.sh runs, beside other jobs,
# then put in OUT; train-dtype.sh then evaluated and compared the three.
# Training times are therefore left out (NA): tests/bench-train measures
# speed.  From the source tree's top, the tools on PATH:
D=../shared/datasets
o=paper-last-w3-f2/backbone
opts="--objective contrastive --train $D/train/scifact_train_bm25negs.jsonl
  --corpus $D/scifact/corpus.jsonl --negatives 3 --batch 16 --epochs 2 --lr 5e-4 --warmup 20
  --max-tokens 256 --pooling last --tau 0.05"
mkdir -p train-dtype && cp -p $o/retriever.tar train-dtype/f32.tar && cp -p $o/finetune.log train-dtype/f32.log
for r in bf16:bf16:1 f32-seed2:f32:2; do
  n=${r%%:*} d=${r#*:}; d=${d%:*} s=${r##*:}
  # shellcheck disable=SC2086
  lr-train --threads 1 -q -m $o/weak.tar $opts --dtype $d --seed $s --log train-dtype/$n.log -o train-dtype/$n.tar
done
THREADS=1 SHARED=../shared COLLECTIONS=scifact MAXTOK=128 sh pipelines/train-dtype.sh train-dtype \
  $o/weak.tar "$opts" f32:f32:1 bf16:bf16:1 f32-seed2:f32:2
r=pipelines/results/train-dtype
cp train-dtype/train-dtype.tsv train-dtype/*.log $r/ && cp train-dtype/perquery/*.tsv $r/perquery/
sed 's|train-dtype/runs/||' train-dtype/sig.scifact.tsv > $r/significance.scifact.tsv
sh pipelines/train-dtype-report.sh $r > $r/README.md
