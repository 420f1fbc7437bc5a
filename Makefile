# The two commands a newcomer types: `make demo` and `make test`. Both start
# the local stack (real Kafka, Cassandra and PostgreSQL; see
# internal/devstack) when USERSTREAM_* does not point at servers already.
STACK := internal/devstack/devstack
GO ?= go
# Integration tests fail rather than skip when a server is missing.
export USERSTREAM_REQUIRE_INTEGRATION ?= 1

.PHONY: test vet demo up down status logs bench

test: vet
	$(STACK) run $(GO) test -race -count=1 -timeout 25m ./...

vet:
	$(GO) vet ./...

demo:
	@echo "make demo: the full pipeline is not built yet (issue 7); starting the stack only"
	$(STACK) up

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
