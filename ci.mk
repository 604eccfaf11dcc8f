# ci.mk - the README's test command: build and test twice, plainly and
# with AddressSanitizer + UndefinedBehaviorSanitizer, out of tree; then
# run every libFuzzer target briefly (clang, ASan + UBSan) from its seeds.
JOBS ?= 2
FUZZ_TIME ?= 20
check-all:
	@if [ -n "$$CI" ] && [ ! -d "$${LR_SHARED:-../shared}/fixtures" ]; then \
	    echo "ci.mk: CI is set but the shared reference data ($${LR_SHARED:-../shared}) is absent" >&2; exit 1; fi
	autoreconf -fi
	rm -rf _build _build-san _build-fuzz
	mkdir -p _build _build-san _build-fuzz
	cd _build && ../configure --quiet && $(MAKE) -j$(JOBS) && $(MAKE) -j$(JOBS) check
	cd _build-san && ../configure --quiet --enable-sanitizers && $(MAKE) -j$(JOBS) && $(MAKE) -j$(JOBS) check
	cd _build-fuzz && ../configure --quiet --enable-fuzzing && $(MAKE) -j$(JOBS) && $(MAKE) fuzz FUZZ_TIME=$(FUZZ_TIME)
.PHONY: check-all
