# pipelines/effir.mk on the twelve-layer backbone fine-tuned with
# last-token pooling (twelve-layers/'s last-weak3-ft2 retriever: its
# commands.sh makes it as paper-last-w3-f2/backbone/retriever.tar).
# The k-subsets (the subsets target) were run after the rest.
# From the source tree's top, the tools on PATH:
D=../shared/datasets
make -f pipelines/effir.mk SHARED=../shared MODEL=paper-last-w3-f2/backbone/retriever.tar OUT=last-token \
  THREADS=1 TAU=0.05 HEAL_EPOCHS=1 HEAL_LR=2e-4 MAXTOK=128 \
  MLP_DROPS="2 3 6" ATTN_DROPS="3 6" LAYER_DROPS= RAND_DROPS=6 DRAWS="1 2 3 4 5" \
  KEEPS=0.5 WIDTH_DROP=3 SEEDS="1 2 3" HEAL="full mlp6 attn6 width3x0.5" \
  PAIRS="attn6:mlp2" SUBSET_KS="3 6" SUBSET_SAMPLES=30 COLLECTIONS="scifact med cranfield cisi adi" \
  TRAIN="--train $D/train/scifact_train_bm25negs.jsonl --corpus $D/scifact/corpus.jsonl --negatives 1" \
  -j2 sweep subsets README
cp paper-last-w3-f2/backbone/weak.log paper-last-w3-f2/backbone/finetune.log last-token/backbone/
