# effir.mk - the EffiR protocol on a retriever: importance profile, MLP
# sublayers dropped for a sweep of k, MLP channels pruned for a sweep of
# keep ratios, recovery fine-tuning, evaluation on SciFact test and,
# zero-shot, on Cranfield, CISI and MED.  Baselines in the same sweep:
# attention sublayers dropped instead, whole layers, random MLP choice,
# and every compressed model also without recovery.
#
#   make -f pipelines/effir.mk -j2 MODEL=backbone/retriever.tar SHARED=../shared OUT=effir
#
# DATA holds one BEIR directory per collection; CALIB is the calibration
# text and TRAIN the lr-train data options of the recovery, TAU its
# temperature (keep the one the retriever was trained with).
# Results: $(OUT)/results.tsv (one line per model and collection) and
# $(OUT)/*.png (gnuplot; PLOT names the collection plotted, default the
# first).  MODEL must be a tar.  Targets are independent files, so -j is safe.
SHARED ?= ../shared
MODEL ?= backbone/retriever.tar
OUT ?= effir
THREADS ?= 1
DROPS ?= 1 2 3 4
KEEPS ?= 0.75 0.5 0.25
WIDTH_DROP ?= 2
COLLECTIONS ?= scifact cranfield cisi med
PLOT ?= $(firstword $(COLLECTIONS))
CALIB_TOKENS ?= 65536
MAXTOK ?= 256
HEAL_EPOCHS ?= 1
HEAL_LR ?= 1e-4
TAU ?= 0.05
SEED ?= 7
DATA ?= $(SHARED)/datasets
CALIB ?= $(DATA)/scifact/corpus.jsonl
TRAIN ?= --train $(DATA)/train/scifact_train_bm25negs.jsonl --corpus $(DATA)/scifact/corpus.jsonl --negatives 3
T = --threads $(THREADS)
.SECONDEXPANSION:

VARIANTS = full $(foreach k,$(DROPS),mlp$(k) attn$(k) layer$(k) rand$(k)) \
	$(foreach r,$(KEEPS),width$(WIDTH_DROP)x$(r))
MODELS = full $(foreach v,$(filter-out full,$(VARIANTS)),$(v) heal-$(v))
ROWS = $(foreach m,$(MODELS),$(foreach c,$(COLLECTIONS),$(OUT)/eval/$(m).$(c).tsv))

all: $(OUT)/results.tsv $(OUT)/quality-params.png $(OUT)/quality-speed.png $(OUT)/importance.png

# ---- importance profile ----
$(OUT)/scores.mp:
	@mkdir -p $(OUT)
	lr-score $T -m $(MODEL) --calib $(CALIB) --max-tokens $(CALIB_TOKENS) -o $@
$(OUT)/importance.txt: $(OUT)/scores.mp
	lr-score --show $< > $@.tmp && mv $@.tmp $@

# ---- compressed models ----
$(OUT)/models/full.tar:
	@mkdir -p $(OUT)/models
	ln -sf "$$(cd $(dir $(MODEL)) && pwd)/$(notdir $(MODEL))" $@
$(OUT)/models/mlp%.tar: $(OUT)/scores.mp
	@mkdir -p $(OUT)/models
	lr-cut-depth -m $(MODEL) --scores $< --drop-mlp $* -o $@
$(OUT)/models/attn%.tar: $(OUT)/scores.mp
	@mkdir -p $(OUT)/models
	lr-cut-depth -m $(MODEL) --scores $< --drop-attn $* -o $@
# whole layers: the k layers whose attention + MLP importance is lowest
$(OUT)/models/layer%.tar: $(OUT)/importance.txt
	@mkdir -p $(OUT)/models
	l=$$(awk '$$1 ~ /^[0-9]+$$/ && $$2 != "-" && $$4 != "-" { print $$2 + $$4, $$1 }' $< | sort -g | head -n $* | \
	     awk '{ printf "%s%s", s, $$2; s = "," }'); \
	lr-cut-depth -m $(MODEL) --mlp-layers $$l --attn-layers $$l -o $@
# random MLP sublayers (fixed seed per k)
$(OUT)/models/rand%.tar: $(OUT)/importance.txt
	@mkdir -p $(OUT)/models
	l=$$(awk -v seed=$(SEED)$* '$$1 ~ /^[0-9]+$$/ { print $$1 }' $< | \
	     awk -v seed=$(SEED)$* 'BEGIN { srand(seed) } { print rand(), $$1 }' | sort -g | head -n $* | \
	     awk '{ printf "%s%s", s, $$2; s = "," }'); \
	lr-cut-depth -m $(MODEL) --mlp-layers $$l -o $@
# coarse to fine: drop WIDTH_DROP MLPs, re-score, prune channels
$(OUT)/models/depth$(WIDTH_DROP).scores.mp: $(OUT)/models/mlp$(WIDTH_DROP).tar
	lr-score $T -m $< --calib $(CALIB) --max-tokens $(CALIB_TOKENS) -o $@
$(OUT)/models/width$(WIDTH_DROP)x%.tar: $(OUT)/models/depth$(WIDTH_DROP).scores.mp
	lr-cut-width -q -m $(OUT)/models/mlp$(WIDTH_DROP).tar --scores $< --keep $* -o $@
# recovery: retrieval fine-tuning on SciFact train with hard negatives, at
# the temperature the retriever was trained with (TAU: backbone.mk's)
$(OUT)/models/heal-%.tar: $(OUT)/models/%.tar
	lr-train $T -q -m $< $(TRAIN) --tau $(TAU) --batch 16 --epochs $(HEAL_EPOCHS) \
	  --lr $(HEAL_LR) --warmup 10 --max-tokens $(MAXTOK) --seed 1 -o $@

# ---- evaluation: one line per model and collection ----
# model  collection  params  nDCG@10  Recall@100  encode_tokens_per_s
$(OUT)/eval/%.tsv: $(OUT)/models/$$(basename $$*).tar
	@mkdir -p $(OUT)/eval $(OUT)/emb
	set -e; m=$(basename $*); c=$(subst .,,$(suffix $*)); e=$(OUT)/emb/$*; \
	lr-encode $T -q -v -m $< --corpus $(DATA)/$$c/corpus.jsonl --max-tokens $(MAXTOK) -o $$e.docs.mp 2> $$e.log; \
	lr-encode $T -q -m $< --queries $(DATA)/$$c/queries.jsonl --max-tokens $(MAXTOK) -o $$e.queries.mp; \
	lr-eval --quiet --qrels $(DATA)/$$c/qrels/test.tsv --queries $$e.queries.mp --docs $$e.docs.mp \
	  -m ndcg_cut.10 -m recall.100 --format tsv -o $$e.metrics; \
	p=$$(tar -xOf $< model.safetensors | head -c 1000000 | grep -ao '"shape":\[[0-9,]*\]' | tr -dc '0-9,\n' | \
	     awk -F, '{ p = 1; for (i = 1; i <= NF; i++) p *= $$i; s += p } END { print s }'); \
	tps=$$(sed -n 's/.* \([0-9.]*\) tokens\/s.*/\1/p' $$e.log | tail -1); \
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' $$m $$c $$p \
	  $$(awk '$$1 == "ndcg_cut_10" && $$2 == "all" { print $$3 }' $$e.metrics) \
	  $$(awk '$$1 == "recall_100" && $$2 == "all" { print $$3 }' $$e.metrics) "$${tps:-NA}" > $@.tmp; \
	rm -f $$e.docs.mp $$e.queries.mp && mv $@.tmp $@
$(OUT)/results.tsv: $(ROWS)
	{ printf 'model\tcollection\tparams\tndcg_cut_10\trecall_100\tencode_tokens_per_s\n'; cat $^; } > $@.tmp && mv $@.tmp $@

# ---- plots ----
# one row per model of the plotted collection, shared by both plots
$(OUT)/plot.tsv: $(OUT)/results.tsv
	awk -F'\t' -v c=$(PLOT) 'NR > 1 && $$2 == c' $< > $@.tmp && mv $@.tmp $@
PLOT_HEAD = set terminal pngcairo noenhanced size 900,600; set output '$@'; set key outside; \
	  set datafile separator '\t'; set ylabel 'nDCG@10'
$(OUT)/quality-params.png: $(OUT)/plot.tsv
	gnuplot -e "$(PLOT_HEAD); set title '$(PLOT) nDCG@10 against parameters'; set xlabel 'parameters (millions)'; \
	  plot for [f in 'mlp attn layer rand width'] '$<' \
	    using (strstrt(strcol(1), 'heal-'.f) == 1 ? \$$3/1e6 : NaN):4 with points pt 7 title f.' (recovered)', \
	    for [f in 'mlp attn layer rand width'] '$<' \
	    using (strstrt(strcol(1), f) == 1 ? \$$3/1e6 : NaN):4 with points pt 6 title f.' (no recovery)', \
	    '$<' using (strcol(1) eq 'full' ? \$$3/1e6 : NaN):4 with points pt 5 ps 2 title 'full'"
$(OUT)/quality-speed.png: $(OUT)/plot.tsv
	gnuplot -e "$(PLOT_HEAD); set title '$(PLOT) nDCG@10 against encoding speed'; set xlabel 'encoding tokens/s'; \
	  plot for [f in 'mlp attn layer rand width'] '$<' \
	    using (strstrt(strcol(1), 'heal-'.f) == 1 ? \$$6 : NaN):4 with points pt 7 title f.' (recovered)', \
	    '$<' using (strcol(1) eq 'full' ? \$$6 : NaN):4 with points pt 5 ps 2 title 'full'"
$(OUT)/importance.png: $(OUT)/importance.txt
	awk '$$1 ~ /^[0-9]+$$/ { print $$1, ($$2 == "-" ? "NaN" : $$2), ($$4 == "-" ? "NaN" : $$4) }' $< > $(OUT)/importance.dat
	gnuplot -e "set terminal pngcairo noenhanced size 900,500; set output '$@'; \
	  set title 'Sublayer importance: 1 - mean cos(x, x + F(norm(x)))'; set xlabel 'layer'; set ylabel 'importance'; \
	  set style data histograms; set style fill solid 0.8; set boxwidth 0.9; \
	  plot '$(OUT)/importance.dat' using 2:xtic(1) title 'attention', '' using 3 title 'MLP'"

.PHONY: all
.DELETE_ON_ERROR:
.SECONDARY:
