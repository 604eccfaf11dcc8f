# effir.mk - the EffiR protocol on a retriever, with the controls that let
# its finding come out either way: importance profile (calibrated on
# training text), MLP sublayers dropped for a sweep of k, MLP channels
# pruned for a sweep of keep ratios, recovery fine-tuning with several
# seeds, evaluation on SciFact test and, zero-shot, on the other
# collections.  Baselines in the same sweep: attention sublayers dropped
# instead (also in numbers that remove as many parameters as k MLPs),
# whole layers, random MLP choices (several draws per k), the full model
# given the same recovery (heal-full), and every compressed model also
# without recovery.  Optionally, where the importance choice ranks among
# other k-subsets of sublayers (SUBSET_KS).
#
#   make -f pipelines/effir.mk -j2 MODEL=backbone/retriever.tar SHARED=../shared OUT=effir
#
# Models (each a tar under $(OUT)/models/, named as in every result file):
#   full            the input model
#   mlpK, attnK     the K least important MLP / attention sublayers dropped
#                   (K from MLP_DROPS, ATTN_DROPS)
#   layerK          the K layers whose two importances sum lowest (LAYER_DROPS)
#   randK-dD        K MLP sublayers drawn at random, draw D (RAND_DROPS, DRAWS)
#   widthWxR        WIDTH_DROP MLPs dropped, re-scored, a fraction R of the
#                   remaining MLP channels kept (KEEPS)
#   heal-M-sS       model M (from HEAL) after recovery with seed S (SEEDS):
#                   retrieval fine-tuning on TRAIN at the retriever's TAU
#
# DATA holds one BEIR directory per collection; CALIB is the calibration
# text (default: the Climate-FEVER training pairs, text no evaluation
# uses) and TRAIN the lr-train data options of the recovery.  MODEL must be
# a tar.  Targets are independent files, so -j is safe, and an interrupted
# sweep resumes where it stopped when make is run again.
#
# Results, in $(OUT):
#   results.tsv     model  collection  params  ndcg_cut_10  recall_100
#                   encode_tokens_per_s (one row per model and collection)
#   runs/M.C.trec   the top RUN_DEPTH documents per query (enough for
#                   nDCG@10 and Recall@100, whose values do not change)
#   perquery/M.C.tsv  per-query values (lr-eval -q: measure, query, value)
#   significance.tsv  model  control  collection  measure  mean  delta  p
#                   p_holm: every model against its control on every
#                   collection by lr-eval (SIG_TEST, SIG_TRIALS); a model of
#                   several runs (the seeds of heal-M, the draws of randK) is
#                   compared by its per-query mean over them (lr-eval
#                   --run A,B,...), named without -sS / -dD.  The control's
#                   own rows have control "-" and "-" for delta, p, p_holm.
#                   Comparisons, each its own Holm group (both measures, every
#                   model of the group):
#                     full      against mlpK attnK layerK randK widthWxR heal-full
#                     heal-full against every other heal-M
#                     attnA against mlpM, for each pair A:M of PAIRS (attention
#                               sublayers against MLPs removing as many
#                               parameters), and heal-attnA against heal-mlpM
#                               when both are recovered
#                     randK     against mlpK: the importance choice against
#                               chance, for K in both RAND_DROPS and MLP_DROPS
#   subsets.tsv     kind  k  layers  chosen  ndcg_cut_10  recall_100: for each
#                   K of SUBSET_KS, k-subsets of MLP and of attention
#                   sublayers dropped without recovery and evaluated on
#                   SUBSET_COLLECTION: all of them when there are at most
#                   SUBSET_ALL, else SUBSET_SAMPLES drawn at random; chosen
#                   is 1 for the importance choice (always included)
#   importance.txt, *.png   the profile and the plots (gnuplot; PLOT names
#                   the collection plotted, default the first)
#   bm25.tsv        BM25's nDCG@10 and Recall@100 per collection: DATA/runs's
#                   run where there is one, else pipelines/bm25.py's
#   README.md       the reading, written by effir-report.py from the files
#                   above and sweep.txt (the sweep's settings) and, when
#                   present, commands.sh (the commands that ran the sweep);
#                   `make README` remakes it alone
SHARED ?= ../shared
MODEL ?= backbone/retriever.tar
OUT ?= effir
THREADS ?= 1
DROPS ?= 1 2 3 4
MLP_DROPS ?= $(DROPS)
ATTN_DROPS ?= $(DROPS)
LAYER_DROPS ?= $(DROPS)
RAND_DROPS ?= $(DROPS)
DRAWS ?= 1 2 3 4 5
KEEPS ?= 0.75 0.5 0.25
WIDTH_DROP ?= 2
SEEDS ?= 1 2 3
PAIRS ?=
COLLECTIONS ?= scifact cranfield cisi med adi
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
SUBSET_KS ?=
SUBSET_ALL ?= 64
SUBSET_SAMPLES ?= 30
SUBSET_COLLECTION ?= $(firstword $(COLLECTIONS))
DATA ?= $(SHARED)/datasets
CALIB ?= $(DATA)/train/climate_fever_claim_evidence.jsonl
TRAIN ?= --train $(DATA)/train/scifact_train_bm25negs.jsonl --corpus $(DATA)/scifact/corpus.jsonl --negatives 3
HERE := $(dir $(lastword $(MAKEFILE_LIST)))
T = --threads $(THREADS)
.SECONDEXPANSION:

VARIANTS = full $(foreach k,$(MLP_DROPS),mlp$(k)) $(foreach k,$(ATTN_DROPS),attn$(k)) \
	$(foreach k,$(LAYER_DROPS),layer$(k)) $(foreach k,$(RAND_DROPS),$(foreach d,$(DRAWS),rand$(k)-d$(d))) \
	$(foreach r,$(KEEPS),width$(WIDTH_DROP)x$(r))
HEAL ?= $(filter-out rand%,$(VARIANTS))
MODELS = $(VARIANTS) $(foreach m,$(HEAL),$(foreach s,$(SEEDS),heal-$(m)-s$(s)))
ROWS = $(foreach m,$(MODELS),$(foreach c,$(COLLECTIONS),$(OUT)/eval/$(m).$(c).tsv))
# heal-M-sS: the model M, the seed S
unseed = $(patsubst %-s$(lastword $(subst -s, ,$(1))),%,$(1))
seed_of = $(lastword $(subst -s, ,$(1)))

all: sweep $(if $(SUBSET_KS),$(OUT)/subsets.tsv) $(OUT)/README.md
# the models, their rows, tests and plots; subsets.tsv is one long serial
# job, which a driver may start beside this one (pipelines/paper-setting.sh)
sweep: $(OUT)/results.tsv $(OUT)/significance.tsv $(OUT)/quality-params.png $(OUT)/quality-speed.png \
	$(OUT)/importance.png
subsets: $(if $(SUBSET_KS),$(OUT)/subsets.tsv)

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
# random MLP sublayers: draw D of K, seeded by SEED, K and D
$(OUT)/models/rand%.tar: $(OUT)/importance.txt
	@mkdir -p $(OUT)/models
	k=$(firstword $(subst -d, ,$*)); d=$(lastword $(subst -d, ,$*)); \
	l=$$(awk '$$1 ~ /^[0-9]+$$/ && $$4 != "-" { print $$1 }' $< | \
	     awk -v seed=$(SEED)0$${k}0$${d} 'BEGIN { srand(seed) } { print rand(), $$1 }' | sort -g | head -n $$k | \
	     awk '{ printf "%s%s", s, $$2; s = "," }'); \
	lr-cut-depth -m $(MODEL) --mlp-layers $$l -o $@
# coarse to fine: drop WIDTH_DROP MLPs, re-score, prune channels
$(OUT)/models/depth$(WIDTH_DROP).scores.mp: $(OUT)/models/mlp$(WIDTH_DROP).tar
	lr-score $T -m $< --calib $(CALIB) --calib-tokens $(CALIB_TOKENS) -o $@
$(OUT)/models/width$(WIDTH_DROP)x%.tar: $(OUT)/models/depth$(WIDTH_DROP).scores.mp
	lr-cut-width -q -m $(OUT)/models/mlp$(WIDTH_DROP).tar --scores $< --keep $* -o $@
# recovery: retrieval fine-tuning on TRAIN at the temperature the retriever
# was trained with (TAU: backbone.mk's); the seed sets data order and
# negatives
$(OUT)/models/heal-%.tar: $(OUT)/models/$$(call unseed,$$*).tar
	lr-train $T -q -m $< $(TRAIN) --tau $(TAU) --batch 16 --epochs $(HEAL_EPOCHS) \
	  --lr $(HEAL_LR) --warmup 10 --max-tokens $(MAXTOK) --seed $(call seed_of,$*) -o $@

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
# A system is a name and its runs: heal-M stands for heal-M-sS over SEEDS,
# randK for randK-dD over DRAWS.  effir-compare.sh runs one lr-eval
# comparison (one Holm group) and prints significance.tsv's rows.
SIG_OPTS = --test $(SIG_TEST) --trials $(SIG_TRIALS) --seed $(SEED) --correction holm
runs_of = $(subst $(space),$(comma),$(strip $(if $(filter heal-%,$(1)),\
	$(foreach s,$(SEEDS),$(OUT)/runs/$(1)-s$(s).$(2).trec),\
	$(if $(filter rand%,$(1)),$(foreach d,$(DRAWS),$(OUT)/runs/$(1)-d$(d).$(2).trec),$(OUT)/runs/$(1).$(2).trec))))
comma := ,
empty :=
space := $(empty) $(empty)
sys = $(1)=$(call runs_of,$(1),$(2))
# the groups: control, then the models compared with it
HEALED = $(filter-out full,$(HEAL))
G_FULL = full $(foreach k,$(MLP_DROPS),mlp$(k)) $(foreach k,$(ATTN_DROPS),attn$(k)) \
	$(foreach k,$(LAYER_DROPS),layer$(k)) $(foreach k,$(RAND_DROPS),rand$(k)) \
	$(foreach r,$(KEEPS),width$(WIDTH_DROP)x$(r)) $(if $(filter full,$(HEAL)),heal-full)
G_HEAL = $(if $(and $(filter full,$(HEAL)),$(HEALED)),heal-full $(foreach m,$(HEALED),heal-$(m)))
CHANCE = $(filter $(RAND_DROPS),$(MLP_DROPS))
$(OUT)/significance/%.tsv: $$(foreach m,$$(MODELS),$$(OUT)/runs/$$(m).$$*.trec)
	@mkdir -p $(OUT)/significance
	set -e; q=$(DATA)/$*/qrels/test.tsv; o=$@.tmp; : > $$o; \
	cmp() { sh $(HERE)effir-compare.sh $$q $* "$(SIG_OPTS)" "$$@" >> $$o; }; \
	cmp $(foreach m,$(G_FULL),$(call sys,$(m),$*)); \
	$(if $(G_HEAL),cmp $(foreach m,$(G_HEAL),$(call sys,$(m),$*));) \
	$(foreach p,$(PAIRS),cmp $(foreach m,$(subst :, ,$(p)),$(call sys,$(m),$*)); \
	  $(if $(word 2,$(filter $(subst :, ,$(p)),$(HEAL))),cmp $(foreach m,$(subst :, ,$(p)),$(call sys,heal-$(m),$*));)) \
	$(foreach k,$(CHANCE),cmp $(call sys,rand$(k),$*) $(call sys,mlp$(k),$*);) \
	mv $$o $@
$(OUT)/significance.tsv: $(foreach c,$(COLLECTIONS),$(OUT)/significance/$(c).tsv)
	{ printf 'model\tcontrol\tcollection\tmeasure\tmean\tdelta\tp\tp_holm\n'; \
	  cat $^ | awk -F'\t' '$$2 != "-" || !seen[$$1, $$3, $$4]++'; } > $@.tmp && mv $@.tmp $@
significance: $(OUT)/significance.tsv

# ---- where the importance choice ranks among k-subsets ----
$(OUT)/subsets.tsv: $(OUT)/importance.txt
	sh $(HERE)effir-subsets.sh $(OUT) $(MODEL) $< $(DATA)/$(SUBSET_COLLECTION) "$(SUBSET_KS)" \
	  $(SUBSET_ALL) $(SUBSET_SAMPLES) $(SEED) "$T --max-tokens $(MAXTOK)"

# ---- BM25 on the same collections: DATA/runs's run where there is one,
# else pipelines/bm25.py's (run: which) ----
$(OUT)/bm25.tsv:
	@mkdir -p $(OUT)/bm25
	{ printf 'collection\tndcg_cut_10\trecall_100\trun\n'; \
	  for c in $(COLLECTIONS); do r=$(DATA)/runs/$$c-bm25.trec; src=shipped; \
	    if [ ! -f $$r ]; then r=$(OUT)/bm25/$$c.trec; src=bm25.py; \
	      [ -s $$r ] || { python3 $(HERE)bm25.py $(DATA)/$$c > $$r.tmp && mv $$r.tmp $$r; } || exit 1; fi; \
	    lr-eval --qrels $(DATA)/$$c/qrels/test.tsv --run $$r -m ndcg_cut.10 -m recall.100 --format tsv | \
	    awk -v c=$$c -v s=$$src '$$2 == "all" { v[$$1] = $$3 } END { printf "%s\t%s\t%s\t%s\n", c, v["ndcg_cut_10"], v["recall_100"], s }'; \
	  done; } > $@.tmp && mv $@.tmp $@

# ---- the sweep's README, every number from the files above ----
SWEEP_VARS = MODEL CALIB CALIB_TOKENS TRAIN TAU HEAL_EPOCHS HEAL_LR MAXTOK MLP_DROPS ATTN_DROPS \
	LAYER_DROPS RAND_DROPS DRAWS KEEPS WIDTH_DROP SEEDS HEAL PAIRS COLLECTIONS SIG_TEST SIG_TRIALS \
	SEED SUBSET_KS SUBSET_ALL SUBSET_SAMPLES SUBSET_COLLECTION
README: $(OUT)/README.md
$(OUT)/README.md: $(OUT)/results.tsv $(OUT)/significance.tsv $(OUT)/importance.txt $(OUT)/bm25.tsv \
	$(if $(SUBSET_KS),$(OUT)/subsets.tsv)
	: > $(OUT)/sweep.txt.tmp; $(foreach v,$(SWEEP_VARS),echo '$(v) = $(subst $(DATA)/,DATA/,$($(v)))' >> $(OUT)/sweep.txt.tmp;) \
	echo 'DATA = $(DATA)' >> $(OUT)/sweep.txt.tmp; mv $(OUT)/sweep.txt.tmp $(OUT)/sweep.txt
	python3 $(HERE)effir-report.py $(OUT) > $@.tmp && mv $@.tmp $@
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

.PHONY: all sweep subsets significance README
.DELETE_ON_ERROR:
.SECONDARY:
