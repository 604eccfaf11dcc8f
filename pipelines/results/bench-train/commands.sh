#!/bin/sh
# The runs of this directory, one after another on an otherwise idle
# 2-core Zen 5 machine, from the build directory (LR_BUILDDIR=.).
# 135m-2 lost its PyTorch bf16 line: its run was stopped during PyTorch's.
BENCH_STEPS=1 BENCH_THREADS=2 sh ../tests/bench-train > 135m-1.txt 2>&1
BENCH_SHAPE=0.5b BENCH_STEPS=2 BENCH_THREADS=2 sh ../tests/bench-train > 0.5b-1.txt 2>&1
BENCH_THREADS=2 sh ../tests/bench-train > 135m-2.txt 2>&1
BENCH_SHAPE=0.5b BENCH_STEPS=2 BENCH_THREADS=2 sh ../tests/bench-train > 0.5b-2.txt 2>&1
BENCH_THREADS=2 sh ../tests/bench-train > 135m-3.txt 2>&1
# the table of README.md
sh ../pipelines/results/bench-train/table.sh ../pipelines/results/bench-train
