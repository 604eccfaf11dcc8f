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
#
# Per query: every evaluation keeps its run, the top RUN_DEPTH documents
# per query (enough for nDCG@10 and Recall@100, whose values do not change),
# in $(OUT)/runs/MODEL.COLLECTION.trec, and its per-query values
# (lr-eval -q: measure, query, value) in $(OUT)/perquery/MODEL.COLLECTION.tsv.
# $(OUT)/significance.tsv (also `make -f pipelines/effir.mk significance`)
# compares each model with its control on every collection, by lr-eval over
# those runs (a run that is missing is made again by its evaluation):
#   model  collection  measure  mean  delta  p  p_holm
# The control of a model without recovery and of heal-full is full; the
# control of heal-X is heal-full, the full model given the same recovery.
# The control's row has - for delta, p and p_holm; heal-full's row is its
# comparison with full.  p: SIG_TEST (lr-eval --test: randomization, t or
# wilcoxon) on the queries of the collection; p_holm: Holm's correction
# over the comparisons that share a collection and a control (every model
# of the group times both measures).
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
RUN_DEPTH ?= 100
SIG_TEST ?= randomization
SIG_TRIALS ?= 10000
DATA ?= $(SHARED)/datasets
CALIB ?= $(DATA)/scifact/corpus.jsonl
TRAIN ?= --train $(DATA)/train/scifact_train_bm25negs.jsonl --corpus $(DATA)/scifact/corpus.jsonl --negatives 3
T = --threads $(THREADS)
.SECONDEXPANSION:

VARIANTS = full $(foreach k,$(DROPS),mlp$(k) attn$(k) layer$(k) rand$(k)) \
	$(foreach r,$(KEEPS),width$(WIDTH_DROP)x$(r))
MODELS = full heal-full $(foreach v,$(filter-out full,$(VARIANTS)),$(v) heal-$(v))
ROWS = $(foreach m,$(MODELS),$(foreach c,$(COLLECTIONS),$(OUT)/eval/$(m).$(c).tsv))

all: $(OUT)/results.tsv $(OUT)/significance.tsv $(OUT)/quality-params.png $(OUT)/quality-speed.png $(OUT)/importance.png

# ---- importance profile ----
$(OUT)/scores.mp:
	@mkdir -p $(OUT)
	lr-score $T -m $(MODEL) --calib $(CALIB) --calib-tokens $(CALIB_TOKENS) -o $@
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
	lr-score $T -m $< --calib $(CALIB) --calib-tokens $(CALIB_TOKENS) -o $@
$(OUT)/models/width$(WIDTH_DROP)x%.tar: $(OUT)/models/depth$(WIDTH_DROP).scores.mp
	lr-cut-width -q -m $(OUT)/models/mlp$(WIDTH_DROP).tar --scores $< --keep $* -o $@
# recovery: retrieval fine-tuning on SciFact train with hard negatives, at
# the temperature the retriever was trained with (TAU: backbone.mk's)
$(OUT)/models/heal-%.tar: $(OUT)/models/%.tar
	lr-train $T -q -m $< $(TRAIN) --tau $(TAU) --batch 16 --epochs $(HEAL_EPOCHS) \
	  --lr $(HEAL_LR) --warmup 10 --max-tokens $(MAXTOK) --seed 1 -o $@

# ---- evaluation: one line per model and collection ----
# model  collection  params  nDCG@10  Recall@100  encode_tokens_per_s
# (one recipe makes the row, the run and the per-query values)
$(OUT)/eval/%.tsv $(OUT)/runs/%.trec $(OUT)/perquery/%.tsv: $(OUT)/models/$$(basename $$*).tar
	@mkdir -p $(OUT)/eval $(OUT)/emb $(OUT)/runs $(OUT)/perquery
	set -e; m=$(basename $*); c=$(subst .,,$(suffix $*)); e=$(OUT)/emb/$*; \
	lr-encode $T -q -v -m $< --corpus $(DATA)/$$c/corpus.jsonl --max-tokens $(MAXTOK) -o $$e.docs.mp 2> $$e.log; \
	lr-encode $T -q -m $< --queries $(DATA)/$$c/queries.jsonl --max-tokens $(MAXTOK) -o $$e.queries.mp; \
	lr-eval --quiet --qrels $(DATA)/$$c/qrels/test.tsv --queries $$e.queries.mp --docs $$e.docs.mp \
	  -k $(RUN_DEPTH) --write-run $(OUT)/runs/$*.trec --tag $$m \
	  -m ndcg_cut.10 -m recall.100 -q --format tsv -o $(OUT)/perquery/$*.tsv; \
	p=$$(tar -xOf $< model.safetensors | head -c 1000000 | grep -ao '"shape":\[[0-9,]*\]' | tr -dc '0-9,\n' | \
	     awk -F, '{ p = 1; for (i = 1; i <= NF; i++) p *= $$i; s += p } END { print s }'); \
	tps=$$(sed -n 's/.* \([0-9.]*\) tokens\/s.*/\1/p' $$e.log | tail -1); \
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' $$m $$c $$p \
	  $$(awk '$$1 == "ndcg_cut_10" && $$2 == "all" { print $$3 }' $(OUT)/perquery/$*.tsv) \
	  $$(awk '$$1 == "recall_100" && $$2 == "all" { print $$3 }' $(OUT)/perquery/$*.tsv) "$${tps:-NA}" \
	  > $(OUT)/eval/$*.tsv.tmp; \
	rm -f $$e.docs.mp $$e.queries.mp && mv $(OUT)/eval/$*.tsv.tmp $(OUT)/eval/$*.tsv
$(OUT)/results.tsv: $(ROWS)
	{ printf 'model\tcollection\tparams\tndcg_cut_10\trecall_100\tencode_tokens_per_s\n'; cat $^; } > $@.tmp && mv $@.tmp $@

# ---- significance: each model against its control, per collection ----
# Two lr-eval comparisons per collection: full against the models without
# recovery and heal-full, then heal-full against the recovered models.
SIG_OPTS = --test $(SIG_TEST) --trials $(SIG_TRIALS) --seed $(SEED) --correction holm \
	-m ndcg_cut.10 -m recall.100 --format tsv
NOHEAL = $(filter-out full heal-%,$(MODELS)) $(filter heal-full,$(MODELS))
HEALED = $(filter-out heal-full,$(filter heal-%,$(MODELS)))
$(OUT)/significance/%.tsv: $(foreach m,$(MODELS),$(OUT)/runs/$(m).%.trec)
	@mkdir -p $(OUT)/significance
	set -e; c=$*; r=$(OUT)/runs; q=$(DATA)/$$c/qrels/test.tsv; \
	lr-eval --qrels $$q --run $$r/full.$$c.trec $(foreach m,$(NOHEAL),--run $$r/$(m).$$c.trec) \
	  $(SIG_OPTS) -o $@.noheal; \
	$(if $(HEALED),lr-eval --qrels $$q --run $$r/heal-full.$$c.trec \
	  $(foreach m,$(HEALED),--run $$r/$(m).$$c.trec) $(SIG_OPTS) -o $@.heal,: > $@.heal); \
	{ tail -n +2 $@.noheal; tail -n +2 $@.heal | awk -F'\t' '$$5 != "-"'; } | \
	  awk -F'\t' -v c=$$c -v OFS='\t' '{ m = $$1; sub(/.*\//, "", m); sub(/\.[^.]*\.trec$$/, "", m); \
	    print m, c, $$2, $$4, $$5, $$6, $$7 }' > $@.tmp; \
	rm -f $@.noheal $@.heal; mv $@.tmp $@
$(OUT)/significance.tsv: $(foreach c,$(COLLECTIONS),$(OUT)/significance/$(c).tsv)
	{ printf 'model\tcollection\tmeasure\tmean\tdelta\tp\tp_holm\n'; cat $^; } > $@.tmp && mv $@.tmp $@
significance: $(OUT)/significance.tsv

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

.PHONY: all significance
.DELETE_ON_ERROR:
.SECONDARY:
