# The two commands a newcomer types: `make demo` and `make test`. Both start
# the local stack (real Kafka, Cassandra and PostgreSQL; see
# internal/devstack) when USERSTREAM_* does not point at servers already.
STACK := internal/devstack/devstack
GO ?= go
# The adopter example, a module of its own that requires this one
# (examples/adopter/go.mod); ./... does not reach it.
ADOPTER := examples/adopter
# Integration tests fail rather than skip when a server is missing.
export USERSTREAM_REQUIRE_INTEGRATION ?= 1
# Where the console's browser test saves its screenshot.
export USERSTREAM_CONSOLE_SCREENSHOT ?= $(CURDIR)/bin/console.png

.PHONY: test test-secure test-adopter test-console browser-deps tidy-check vet demo up down status logs bench bench-e2e

# test: tidy-check, vet, the unit and integration tests (go test -race ./...,
# which includes the console's test in headless Chromium, hence
# browser-deps), the adopter example (its own module), the tests against the
# secured listeners, every decoder's fuzz target for a bounded time, and the
# fault-injection suite, which kills servers and so runs last and alone.
test: tidy-check vet browser-deps
	$(STACK) run $(GO) test -race -count=1 -timeout 25m ./...
	$(MAKE) test-adopter
	$(MAKE) test-secure
	$(MAKE) fuzz FUZZTIME=10s
	$(MAKE) faults

vet:
	$(GO) vet ./...

# browser-deps installs Debian's chromium when it is missing (apt-get, as
# root; otherwise it names the package and fails): the console's browser
# test (TestConsoleInABrowser in examples/fullpipeline) drives it headless.
browser-deps:
	@internal/devstack/need-deb chromium=chromium

# test-console: the status page alone (package console, the browser test,
# and the tests that the metrics it and the alert rules read move). The
# screenshot goes to USERSTREAM_CONSOLE_SCREENSHOT (default bin/console.png).
test-console: browser-deps
	$(STACK) run $(GO) test -race -count=1 -timeout 10m \
		-run 'Console|Metrics|Test(Status|Preview|Quantile|Samples|New)' ./console/ ./examples/fullpipeline/ ./examples/consumer/ ./examples/producer/

# tidy-check fails when go.mod or go.sum is not what `go mod tidy` writes: an
# untidy go.mod misleads adopters about what the module requires. It checks
# the adopter example's module too, and changes no file.
tidy-check:
	@$(GO) mod tidy -diff || { echo 'tidy-check: go.mod or go.sum is not tidy (diff above); run `go mod tidy` and commit both files' >&2; exit 1; }
	@cd $(ADOPTER) && $(GO) mod tidy -diff || { echo 'tidy-check: $(ADOPTER)/go.mod or go.sum is not tidy (diff above); run `go mod tidy` in $(ADOPTER) and commit both files' >&2; exit 1; }

# test-adopter vets the adopter example (examples/adopter, the pipeline wired
# from the public API only, as a module that requires this one) and runs its
# test against the plain listeners: the program twice, then every user
# fetched checked in Cassandra. Its run on the secured listeners is part of
# test-secure.
test-adopter:
	cd $(ADOPTER) && $(GO) vet ./... && $(GO) vet -tags secure ./...
	cd $(ADOPTER) && $(CURDIR)/$(STACK) run $(GO) test -race -count=1 -timeout 10m ./...

# The full pipeline, offline, for DEMO_USERS users (default 100,000), ending
# with a summary verified against Cassandra. Run it twice: the second run
# fetches the same users and changes nothing.
DEMO_USERS ?= 100000
demo:
	$(GO) build -o bin/fullpipeline ./examples/fullpipeline
	$(STACK) run bin/fullpipeline -offline -users $(DEMO_USERS) -progress

bench:
	$(STACK) run $(GO) test -run '^$$' -bench . -benchmem ./...

up:
	$(STACK) up

down:
	$(STACK) down

status:
	$(STACK) status

logs:
	$(STACK) logs

# The end-to-end benchmark written up in BENCHMARKS.md.
bench-e2e:
	$(STACK) run $(GO) run ./internal/e2ebench

# The tests against the secured servers (packages secure and
# examples/fullpipeline, and the adopter example's module; files built with
# -tags secure, tests named TestSecure*):
# Kafka SCRAM-SHA-512 and PLAIN with and without TLS, PostgreSQL with a
# password and verify-full, and a second Cassandra node with
# PasswordAuthenticator and TLS, which secure mode starts and this target
# stops again unless it was already running.
SECURE_PKGS ?= ./secure/... ./examples/fullpipeline/
test-secure:
	@if $(STACK) status 2>/dev/null | grep -q '^cassandra-secure .* up'; then keep=1; else keep=0; fi; \
	USERSTREAM_STACK_SECURE=1 $(STACK) run sh -c '$(GO) vet -tags secure $(SECURE_PKGS) && $(GO) test -tags secure -race -count=1 -timeout 10m -run "^TestSecure" $(SECURE_PKGS) && \
		cd $(ADOPTER) && $(GO) test -tags secure -race -count=1 -timeout 10m -run "^TestSecure" ./...'; \
	rc=$$?; [ $$keep = 1 ] || $(STACK) stop cassandra-secure; exit $$rc

# The fault-injection suite (internal/faults; figures in RELIABILITY.md). It
# SIGKILLs and restarts the local stack's servers and the pipeline's
# processes, so it runs alone and in order, never beside other tests.
# USERSTREAM_FAULT_USERS sets the users per scenario (default 100,000).
.PHONY: faults fuzz
faults:
	$(STACK) run $(GO) test -tags faults -count=1 -timeout 30m -v ./internal/faults/

# Every decoder's fuzz target, each for FUZZTIME: the API page, the row's
# JSON, the Kafka record.
FUZZTIME ?= 15s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodePage$$' -fuzztime $(FUZZTIME) ./randomuser/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeDifferential$$' -fuzztime $(FUZZTIME) ./randomuser/
	$(GO) test -run '^$$' -fuzz '^FuzzUnmarshal$$' -fuzztime $(FUZZTIME) ./transform/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRecord$$' -fuzztime $(FUZZTIME) ./kafkasink/
