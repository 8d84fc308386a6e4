# The two commands of the README: `make run` and `make test`.
GO        ?= go
DATA      ?= ./data
ADDR      ?= 127.0.0.1:8443
FUZZTIME  ?= 20s
BIN       := bin/facepay

.PHONY: run build models bench-tools bench-face test test-go vet fuzz clean help screenshots demo

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

build: ## build bin/facepay
	$(GO) build -o $(BIN) ./cmd/facepay

models: ## install the pinned onnxruntime, face models and test photos into the cache (once; later runs download nothing)
	$(GO) run ./cmd/facepay models install

bench-tools: ## build bin/searchbench (FAISS, hnswlib; installs Debian's libfaiss-dev and libhnswlib-dev) and install onnxruntime-node for bench face
	./bench/searchbench/build.sh bin/searchbench
	./bench/ortnode/setup.sh "$${XDG_CACHE_HOME:-$$HOME/.cache}/openfacepay/ortnode"

bench-face: build models bench-tools ## the face benchmarks of the README: bench face and bench face-quality
	$(BIN) bench face
	$(BIN) bench face-quality

demo: build models ## a whole school in one command: the K12 product and a face payment walked through, then running until Ctrl-C
	$(BIN) demo

run: build models ## build and start the platform on SQLite in ./data
	$(BIN) serve --data $(DATA) --addr $(ADDR)

test: models ## vet, then every test on SQLite and PostgreSQL (starts PostgreSQL if needed, installs Chromium and playwright-core for the page tests), then a short fuzz run
	./scripts/ensure-postgres.sh
	./scripts/ensure-browser.sh
	$(GO) vet ./...
	@# Face and browser tests skip when their tools are missing; here they are installed, so a skip is a failure.
	FACEPAY_REQUIRE_MODELS=1 FACEPAY_REQUIRE_BROWSER=1 $(GO) test -count=1 -timeout 20m ./...
	@# The face engine must still build, and say why it cannot run, without a C toolchain.
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/facepay
	@# A count, not a duration: a duration can expire while the fuzzer minimises a new
	@# input, which go test reports as a failure (context deadline exceeded).
	$(MAKE) --no-print-directory fuzz FUZZTIME=100000x

fuzz: ## run every fuzz target for FUZZTIME each
	@for pkg in ./internal/wire/v2wire ./internal/wire/v3wire ./internal/device ./internal/pay/bill ./internal/face/vision ./internal/wire/termwire; do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

screenshots: models ## the README's page screenshots (kiosk, parents' K12 pages), from the Chromium tests
	./scripts/ensure-browser.sh
	FACEPAY_REQUIRE_MODELS=1 FACEPAY_REQUIRE_BROWSER=1 FACEPAY_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run TestKioskPageInChromium ./internal/kiosk
	FACEPAY_REQUIRE_MODELS=1 FACEPAY_REQUIRE_BROWSER=1 FACEPAY_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run TestParentsPagesInChromium ./internal/edge/k12pages

clean: ## remove build output (not ./data)
	rm -rf bin
