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
# last-token.tsv: the same backbone fine-tuned with last-token pooling
# (paper-setting.sh's default), its full model's rows by effir.mk's rule
make -f pipelines/backbone.mk SHARED=../shared \
  OUT=paper-last/backbone LAYERS=12 POOLING=last THREADS=2 PRETRAIN_STEPS=600 FT_EPOCHS=1
for c in scifact med cranfield cisi adi; do
  make -f pipelines/effir.mk SHARED=../shared MODEL=paper-last/backbone/retriever.tar OUT=paper-last/sweep \
    MAXTOK=128 paper-last/sweep/eval/full.$c.tsv
done
{ printf 'model\tcollection\tparams\tndcg_cut_10\trecall_100\tencode_tokens_per_s\n'
  for c in scifact med cranfield cisi adi; do cat paper-last/sweep/eval/full.$c.tsv; done; } > last-token.tsv
