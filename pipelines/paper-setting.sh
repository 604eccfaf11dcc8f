#!/bin/sh
# paper-setting.sh - the EffiR sweep in the paper's setting, at a size
# these machines can run: a twelve-layer retriever with last-token (EOS)
# pooling, pretrained and fine-tuned by backbone.mk, calibrated on training
# text (Climate-FEVER pairs), swept by effir.mk with three recovery seeds,
# five random draws per k, equal-parameter pairs (in this model an MLP
# sublayer holds as many parameters as three attention sublayers), subset
# ranks, and zero-shot evaluation on every collection.  Everything is a
# make target, so an interrupted run continues where it stopped when the
# script is run again (pretraining resumes from its last save).
#
#   sh pipelines/paper-setting.sh [OUT [VAR=VALUE...]]  (default OUT: paper-setting)
#
# SHARED (default ../shared) and THREADS (per job, default 1; two jobs run
# at once) as in the Makefiles; PRETRAIN_STEPS, WEAK_EPOCHS and FT_EPOCHS
# (environment, backbone.mk's) set the length of the backbone's training,
# POOLING=mean fine-tunes it with mean pooling instead of the last token,
# and each VAR=VALUE after OUT overrides one of effir.mk's settings below
# (a smaller sweep for a shorter budget).  Budget on 2 quiet cores:
# pretraining about 80 minutes, fine-tuning about an hour (three weak
# epochs and two on SciFact train, which last-token pooling needs), the
# sweep several hours (each model is encoded for five collections, each
# recovery is an epoch of SciFact train, each of the 124 subsets is a
# SciFact encoding); run it niced in the background from an installed copy.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-paper-setting}
[ $# -gt 0 ] && shift
shared=${SHARED:-../shared}
threads=${THREADS:-1}
make -f "$here/backbone.mk" SHARED="$shared" OUT="$out/backbone" LAYERS=12 POOLING="${POOLING:-last}" SAVE_EVERY=50 THREADS=2 \
  PRETRAIN_STEPS="${PRETRAIN_STEPS:-1200}" FT_EPOCHS="${FT_EPOCHS:-2}" ${WEAK_EPOCHS:+WEAK_EPOCHS=$WEAK_EPOCHS}
# effir.mk's settings for this setting, then the caller's VAR=VALUE
set -- TAU=0.05 HEAL_EPOCHS=1 HEAL_LR=2e-4 MAXTOK=256 \
  MLP_DROPS="1 2 3 6" ATTN_DROPS="3 6 9" LAYER_DROPS=3 RAND_DROPS="3 6" DRAWS="1 2 3 4 5" \
  KEEPS=0.5 WIDTH_DROP=3 SEEDS="1 2 3" HEAL="full mlp2 mlp3 mlp6 attn6" \
  PAIRS="attn3:mlp1 attn6:mlp2 attn9:mlp3" SUBSET_KS="3 6" SUBSET_SAMPLES=30 \
  COLLECTIONS="scifact cranfield cisi med adi" "$@"
sweep() {
    make -f "$here/effir.mk" SHARED="$shared" MODEL="$out/backbone/retriever.tar" OUT="$out/sweep" \
      THREADS="$threads" "$@"
}
# the k-subsets are one serial job: it runs beside the two jobs of the
# models (three processes on two cores) rather than alone after them
sweep "$@" "$out/sweep/importance.txt"
sweep "$@" subsets & subsets=$!
status=0
sweep -k -j2 "$@" sweep || status=1
wait $subsets || status=1
sweep "$@" || status=1
exit $status
