#!/bin/sh
# The runs of this directory, one at a time on a 2-core Zen 5 machine
# shared with other tenants, from the build directory (LR_BUILDDIR=.).
# 135m-2 lost its PyTorch bf16 line: its run was stopped during PyTorch's.
d=../pipelines/results/bench-train
BENCH_STEPS=1 BENCH_THREADS=2 sh ../tests/bench-train > $d/135m-1.txt 2>&1
BENCH_SHAPE=0.5b BENCH_STEPS=2 BENCH_THREADS=2 sh ../tests/bench-train > $d/0.5b-1.txt 2>&1
BENCH_THREADS=2 sh ../tests/bench-train > $d/135m-2.txt 2>&1
BENCH_SHAPE=0.5b BENCH_STEPS=2 BENCH_THREADS=2 sh ../tests/bench-train > $d/0.5b-2.txt 2>&1
BENCH_THREADS=2 sh ../tests/bench-train > $d/135m-3.txt 2>&1
# the table of README.md
sh $d/table.sh $d
