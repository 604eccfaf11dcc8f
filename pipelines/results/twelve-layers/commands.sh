# pipelines/paper-setting.sh with mean pooling, shortened to one run of a
# few hours on 2 cores: pretraining (PRETRAIN_STEPS) and the last
# fine-tuning stage (FT_EPOCHS) cut, texts at 128 tokens, one hard
# negative in recovery, fewer sweep points, no k-subsets.  From the source
# tree's top, the tools on PATH:
D=../shared/datasets
PRETRAIN_STEPS=600 FT_EPOCHS=1 POOLING=mean SHARED=../shared sh pipelines/paper-setting.sh paper-mean \
  MAXTOK=128 MLP_DROPS="2 3 6" ATTN_DROPS="3 6" LAYER_DROPS= RAND_DROPS=6 KEEPS= HEAL="full mlp6" \
  PAIRS="attn6:mlp2" SUBSET_KS= COLLECTIONS="scifact med cranfield cisi adi" \
  TRAIN="--train $D/train/scifact_train_bm25negs.jsonl --corpus $D/scifact/corpus.jsonl --negatives 1"
# last-token.tsv: the same backbone fine-tuned with last-token pooling,
# the full model's rows by effir.mk's rule, for two lengths of the
# contrastive stages: one weak epoch and one on SciFact train (as above),
# then three and two (backbone.mk's default for last-token pooling); both
# start from the pretrained base.tar above (copied, with its timestamp)
for r in 1:1 3:2; do
  w=${r%:*} f=${r#*:} o=paper-last-w$w-f$f
  mkdir -p $o/backbone && cp -p paper-mean/backbone/config.json paper-mean/backbone/pretrain.jsonl \
    paper-mean/backbone/base.tar paper-mean/backbone/pairs.jsonl $o/backbone/
  make -f pipelines/backbone.mk SHARED=../shared OUT=$o/backbone LAYERS=12 POOLING=last \
    PRETRAIN_STEPS=600 WEAK_EPOCHS=$w FT_EPOCHS=$f
  for c in scifact med cranfield cisi adi; do
    make -f pipelines/effir.mk SHARED=../shared MODEL=$o/backbone/retriever.tar OUT=$o/sweep \
      MAXTOK=128 $o/sweep/eval/full.$c.tsv
    cp $o/sweep/perquery/full.$c.tsv perquery/last-weak$w-ft$f.$c.tsv
  done
  cp $o/backbone/weak.log backbone/last-weak$w-ft$f-weak.log
  cp $o/backbone/finetune.log backbone/last-weak$w-ft$f-finetune.log
done
{ printf 'model\tcollection\tparams\tndcg_cut_10\trecall_100\tencode_tokens_per_s\n'
  for r in 1:1 3:2; do w=${r%:*} f=${r#*:}; for c in scifact med cranfield cisi adi; do
    sed "s/^full/last-weak$w-ft$f/" paper-last-w$w-f$f/sweep/eval/full.$c.tsv
  done; done; } > last-token.tsv
# last-token-significance.tsv: per collection, one Holm group against the
# shorter last-token recipe, one against the mean-pooled full model
opts="--test randomization --trials 10000 --seed 7 --correction holm"
{ printf 'model\tcontrol\tcollection\tmeasure\tmean\tdelta\tp\tp_holm\n'
  for c in scifact med cranfield cisi adi; do
    q=$D/$c/qrels/test.tsv l1=paper-last-w1-f1/sweep/runs/full.$c.trec
    l3=paper-last-w3-f2/sweep/runs/full.$c.trec m=paper-mean/sweep/runs/full.$c.trec
    sh pipelines/effir-compare.sh $q $c "$opts" last-weak1-ft1=$l1 last-weak3-ft2=$l3 mean-weak1-ft1=$m
    sh pipelines/effir-compare.sh $q $c "$opts" mean-weak1-ft1=$m last-weak3-ft2=$l3 | awk -F'\t' '$2 != "-"'
  done; } > last-token-significance.tsv
