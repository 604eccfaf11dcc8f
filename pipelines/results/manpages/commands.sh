# The EffiR sweep on the make demo retriever (man pages of this machine),
# with seeds, random draws, equal-parameter pairs and every k-subset.
# Run from the source tree's top with the tools on PATH:
make demo    # LR_WORK=demo-work: leaves demo-work/full.tar and demo-work/data
D=$PWD/demo-work
make -j2 -f pipelines/effir.mk MODEL=$D/full.tar OUT=effir-manpages THREADS=1 \
  DATA=$D COLLECTIONS=data CALIB=$D/data/train.jsonl CALIB_TOKENS=50000 \
  TRAIN="--train $D/data/train.jsonl" MAXTOK=128 HEAL_EPOCHS=3 HEAL_LR=1e-3 TAU=0.05 \
  MLP_DROPS="1 2 3" ATTN_DROPS="1 2 3 6" LAYER_DROPS="1 2" RAND_DROPS="1 2 3" DRAWS="1 2 3 4 5" \
  KEEPS="0.75 0.5" WIDTH_DROP=2 SEEDS="1 2 3" HEAL="full mlp1 mlp2 mlp3 attn1 attn2 attn3 attn6" \
  PAIRS="attn3:mlp1 attn6:mlp2" SUBSET_KS="1 2 3"
