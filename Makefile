# The two commands a newcomer types: `make demo` and `make test`. Both start
# the local stack (real Kafka, Cassandra and PostgreSQL; see
# internal/devstack) when USERSTREAM_* does not point at servers already.
STACK := internal/devstack/devstack
GO ?= go
# Integration tests fail rather than skip when a server is missing.
export USERSTREAM_REQUIRE_INTEGRATION ?= 1

.PHONY: test vet demo up down status logs bench bench-e2e

test: vet
	$(STACK) run $(GO) test -race -count=1 -timeout 25m ./...

vet:
	$(GO) vet ./...

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
