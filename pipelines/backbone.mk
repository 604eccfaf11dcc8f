# backbone.mk - pretrain a small Llama-architecture backbone with lr-train's
# causal-LM objective, then fine-tune it into a retriever in two stages, as
# E5 and its kin do: weakly supervised pairs first (each SciFact document's
# title against its abstract, and the Climate-FEVER claims with their
# evidence), then SciFact's train split with its BM25 hard negatives.
# No download: the pretraining text is that of the collections in SHARED,
# plus Debian's GCIDE dictionary with GCIDE=/usr/share/dictd/gcide.dict.dz
# (apt-get install dict-gcide).  About an hour on 2 cores at the defaults:
# pretraining 1200 steps of 4096 tokens at about 2 s a step, then 8 and 9
# minutes for the two fine-tuning stages.
#
#   make -f pipelines/backbone.mk SHARED=../shared OUT=backbone
#
# The paper's setting (last-token pooling, at least twelve layers, so that
# dropping a quarter to a half of the MLPs is a real choice):
#
#   make -f pipelines/backbone.mk SHARED=../shared OUT=backbone12 LAYERS=12 POOLING=last
#
# The result is $(OUT)/retriever.tar, the input of pipelines/effir.mk.
# Pretraining saves every SAVE_EVERY steps (into base.part.tar); rerunning
# resumes from there.
# Small models learn retrieval much better with mean pooling than with
# the last token, and the last token needs longer contrastive training:
# at twelve layers, one weak epoch and one on SciFact train left it at a
# floor, three and two lifted it significantly (pipelines/results/
# twelve-layers/last-token*.tsv).  Tau 0.05 is the demo's (E5 uses 0.02).
SHARED ?= ../shared
OUT ?= backbone
THREADS ?=
HIDDEN ?= 256
LAYERS ?= 6
HEADS ?= 4
KV_HEADS ?= 2
FFN ?= 768
VOCAB ?= 32000
POOLING ?= mean
TAU ?= 0.05
SEQ ?= 256
BATCH ?= 16
PRETRAIN_STEPS ?= 1200
PRETRAIN_LR ?= 1e-3
SAVE_EVERY ?= 250
WEAK_EPOCHS ?= $(if $(filter last,$(POOLING)),3,1)
WEAK_LR ?= 1e-3
WEAK_BATCH ?= 32
FT_EPOCHS ?= 2
FT_LR ?= 5e-4
NEGATIVES ?= 3
TOKENIZER ?= $(SHARED)/tokenizers/mistral/tokenizer.json
DATA = $(SHARED)/datasets
GCIDE ?=
PAIRS = $(dir $(lastword $(MAKEFILE_LIST)))title-pairs.py
T = $(if $(THREADS),--threads $(THREADS))

all: $(OUT)/retriever.tar

$(OUT)/config.json:
	@mkdir -p $(OUT)
	printf '{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": %d, "intermediate_size": %d, "num_hidden_layers": %d, "num_attention_heads": %d, "num_key_value_heads": %d, "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "vocab_size": %d, "hidden_act": "silu", "tie_word_embeddings": true, "torch_dtype": "float32", "bos_token_id": 1, "eos_token_id": 2}\n' \
	  $(HIDDEN) $(FFN) $(LAYERS) $(HEADS) $(KV_HEADS) $(VOCAB) > $@

# Pretraining text: every corpus document (JSONL "text"), then the
# dictionary's entries as plain-text JSONL rows when it is installed.
$(OUT)/pretrain.jsonl:
	@mkdir -p $(OUT)
	cat $(DATA)/scifact/corpus.jsonl $(DATA)/cranfield/corpus.jsonl \
	    $(DATA)/cisi/corpus.jsonl $(DATA)/med/corpus.jsonl > $@.tmp
	if [ -n "$(GCIDE)" ]; then zcat $(GCIDE) | iconv -f utf-8 -t utf-8 -c | \
	  awk 'BEGIN { RS = "" } { gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); gsub(/[\001-\037]/, " "); \
	       if (length($$0) > 80) print "{\"text\":\"" $$0 "\"}" }' >> $@.tmp; fi
	mv $@.tmp $@

# lr-train writes its output at every save, so it trains into base.part.tar
# and the finished model is renamed: base.tar exists only when complete.
$(OUT)/base.tar: $(OUT)/config.json $(OUT)/pretrain.jsonl
	if [ -s $(OUT)/base.part.tar.state ]; then resume="--resume $(OUT)/base.part.tar.state"; else resume=; fi; \
	lr-train $T --objective lm --init $(OUT)/config.json --tokenizer $(TOKENIZER) \
	  --train $(OUT)/pretrain.jsonl --max-tokens $(SEQ) --batch $(BATCH) \
	  --steps $(PRETRAIN_STEPS) --lr $(PRETRAIN_LR) --warmup 100 --schedule cosine \
	  --seed 1 --save-every $(SAVE_EVERY) --log $(OUT)/pretrain.log $$resume -o $(OUT)/base.part.tar
	mv $(OUT)/base.part.tar $@ && rm -f $(OUT)/base.part.tar.state

# Weak pairs: titles as queries (other rows of the batch are the
# negatives), then Climate-FEVER claims with their hard negatives.
$(OUT)/pairs.jsonl:
	@mkdir -p $(OUT)
	python3 $(PAIRS) $(DATA)/scifact/corpus.jsonl > $@.tmp
	cat $(DATA)/train/climate_fever_claim_evidence.jsonl >> $@.tmp
	mv $@.tmp $@

$(OUT)/weak.tar: $(OUT)/base.tar $(OUT)/pairs.jsonl
	lr-train $T -m $< --objective contrastive --train $(OUT)/pairs.jsonl \
	  --negatives 1 --batch $(WEAK_BATCH) --epochs $(WEAK_EPOCHS) --lr $(WEAK_LR) --warmup 20 \
	  --max-tokens $(SEQ) --pooling $(POOLING) --tau $(TAU) --seed 1 --log $(OUT)/weak.log -o $@

$(OUT)/retriever.tar: $(OUT)/weak.tar
	lr-train $T -m $< --objective contrastive \
	  --train $(DATA)/train/scifact_train_bm25negs.jsonl --corpus $(DATA)/scifact/corpus.jsonl \
	  --negatives $(NEGATIVES) --batch 16 --epochs $(FT_EPOCHS) --lr $(FT_LR) --warmup 20 \
	  --max-tokens $(SEQ) --pooling $(POOLING) --tau $(TAU) --seed 1 --log $(OUT)/finetune.log -o $@

.PHONY: all
.DELETE_ON_ERROR:
