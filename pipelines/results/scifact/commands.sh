# pipelines/backbone.mk and pipelines/effir.mk as of commit e5fcf56 (one
# recovery seed, one random draw per k, calibration on the SciFact corpus)
make -f pipelines/backbone.mk SHARED=../shared OUT=backbone
make -j2 -f pipelines/effir.mk MODEL=backbone/retriever.tar OUT=effir-scifact \
  SHARED=../shared THREADS=1 DROPS="2 4" KEEPS="0.75 0.5" WIDTH_DROP=2 MAXTOK=256 \
  TRAIN="--train ../shared/datasets/train/scifact_train_bm25negs.jsonl \
         --corpus ../shared/datasets/scifact/corpus.jsonl --negatives 1" \
  HEAL_EPOCHS=1 HEAL_LR=2e-4 TAU=0.05
