#!/bin/sh
# table.sh DIR - LoRA (rank 16) against full fine-tuning in every
# bench-train output of DIR (SHAPE-RUN.txt): one row per run and dtype.
set -eu
echo "| run | dtype | full tokens/s | LoRA tokens/s | LoRA / full | FLOPs per token, full / LoRA | LoRA's GFLOP/s / full's | full step in forwards | LoRA step in forwards |"
echo "|---|---|---|---|---|---|---|---|---|"
for f in "$1"/*-[0-9].txt; do
    awk -v run="$(basename "$f" .txt)" '
        /^(full|LoRA) / { kind = $1; dtype = $2
            for (i = 1; i <= NF; i++) if ($(i) == "tokens/s,") rate[kind] = $(i - 1) }
        /step \/ forward/ { for (i = 1; i <= NF; i++) if ($(i) ~ /^x[0-9.]+\);$/) { x = $(i); gsub(/[x);]/, "", x); fwd[kind] = x } }
        /LoRA against full fine-tuning/ {
            for (i = 1; i <= NF; i++) {
                if ($(i) == "fewer") fl = $(i - 1)
                if ($(i) == "at") eff = $(i + 1)
            }
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", run, dtype, rate["full"],
                   rate["LoRA"], $6, fl, eff, fwd["full"], fwd["LoRA"]
        }' "$f"
done
