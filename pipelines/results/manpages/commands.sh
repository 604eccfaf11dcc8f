# pipelines/effir.mk as of commit 1a05230 (a single
# recovery seed, one random draw per k, calibration on the collection)
make demo    # leaves demo-work/full.tar and demo-work/data
D=$PWD/demo-work
make -j2 -f pipelines/effir.mk MODEL=$D/full.tar OUT=effir-manpages THREADS=1 \
  DATA=$D COLLECTIONS=data CALIB=$D/data/corpus.jsonl TRAIN="--train $D/data/train.jsonl" \
  DROPS="1 2 3" KEEPS="0.75 0.5" WIDTH_DROP=2 MAXTOK=128 CALIB_TOKENS=50000 \
  HEAL_EPOCHS=3 HEAL_LR=1e-3 TAU=0.02
