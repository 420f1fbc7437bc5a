# The two commands a newcomer types: `make demo` and `make test`. Both start
# the local stack (real Kafka, Cassandra and PostgreSQL; see
# internal/devstack) when USERSTREAM_* does not point at servers already.
# A bare `make` runs nothing: it prints the targets and what each costs.
STACK := internal/devstack/devstack
GO ?= go
# The adopter example, a module of its own that requires this one
# (examples/adopter/go.mod); ./... does not reach it.
ADOPTER := examples/adopter
# Integration tests fail rather than skip when a server is missing.
export USERSTREAM_REQUIRE_INTEGRATION ?= 1
# Where the console's browser test saves its screenshot.
export USERSTREAM_CONSOLE_SCREENSHOT ?= $(CURDIR)/bin/console.png

.PHONY: help check-files release-check cluster-up cluster-down cluster-status test-cluster bench-e2e-cluster test test-secure test-adopter test-airflow test-console browser-deps tidy-check vet check-rules demo up down status logs bench bench-e2e schema-check

# help, the default goal: the targets and what each costs. Times are on
# the 2-core machine the figures of BENCHMARKS.md come from.
help:
	@echo 'userstream: make <target>. Nothing runs without a target.'
	@echo
	@echo 'For everyone:'
	@echo '  demo            the pipeline offline for DEMO_USERS users (default 100000): ~1 min once the stack is up; starts the'
	@echo '                  local stack (Kafka, Cassandra, PostgreSQL under .devstack/, left running; its first start fetches'
	@echo '                  Kafka and Cassandra with Maven: minutes)'
	@echo '  test            everything CI runs but release-check, the cluster and Airflow: ~14 min; starts the stack, SIGKILLs and restarts'
	@echo '                  its servers (make faults), installs Debian packages chromium and prometheus as root when missing'
	@echo
	@echo 'Quick checks:'
	@echo '  check-files     no tracked executable or file over 1 MB: seconds'
	@echo '  tidy-check      go.mod and go.sum are tidy (this module, the adopter and the release tool): seconds'
	@echo '  vet             go vet ./...: ~1 min'
	@echo '  check-rules     the Prometheus alert rules (promtool): seconds; installs Debian prometheus as root when missing'
	@echo '  schema-check    the committed Avro schemas against the encoder and the registry: ~1 min; starts the stack'
	@echo
	@echo 'Parts of make test (each starts the stack when it is not up):'
	@echo '  test-adopter    the adopter example, its own module: ~2 min'
	@echo '  test-console    the status page in headless Chromium: ~2 min; installs Debian chromium as root when missing'
	@echo '  test-secure     SCRAM, TLS, passwords: ~3 min; starts a secured Cassandra node and stops it again'
	@echo '  fuzz            every decoder fuzz target for FUZZTIME (default 15s) each: ~2 min'
	@echo '  faults          the fault-injection suite: ~5 min; SIGKILLs the local servers; run it alone'
	@echo '  faults-network  network faults through Toxiproxy (partition, black hole, latency, resets, bandwidth), PostgreSQL'"'"'s'
	@echo '                  disk full (mounts a tmpfs: root), the schema registry killed: ~8 min; starts the stack with its'
	@echo '                  fault proxy and registry (USERSTREAM_TOXIPROXY=1 USERSTREAM_REGISTRY=1); run it alone'
	@echo
	@echo 'Releases:'
	@echo '  release-check   module zip of the working tree for VERSION, API diff against $(RELEASE_BASE), a go get of it'
	@echo '                  with no replace, built and run against the stack: ~2.5 min cold, 30 s warm; starts the stack'
	@echo
	@echo 'CI only (long):'
	@echo '  test-cluster    fault scenarios on 3 brokers and 3 Cassandra nodes: ~10 min plus the cluster start; starts the cluster'
	@echo '  test-airflow    the DAG in a real Airflow: ~10 min; installs Airflow $(AIRFLOW_VERSION) into a venv (first run)'
	@echo
	@echo 'Benchmarks (figures in BENCHMARKS.md): bench, bench-e2e, bench-e2e-cluster: minutes each; start the stack'
	@echo 'The stack: up, down, status, logs; the cluster: cluster-up, cluster-down, cluster-status'
	@echo 'Docs: README.md, then docs/ (docs/README.md lists the pages)'

# check-files fails when a file git tracks is an executable (ELF, Mach-O or
# PE, told by its first bytes) or larger than 1 MB, naming each one and why
# (internal/releasecheck, a module of its own, whose vet and tests run
# first). First in make test, before the stack starts.
RELEASECHECK := internal/releasecheck
check-files:
	@cd $(RELEASECHECK) && $(GO) vet ./... && $(GO) test -count=1 ./... && $(GO) build -o $(CURDIR)/bin/releasecheck .
	@bin/releasecheck files -root $(CURDIR)

# release-check: the release of the version VERSION declares, as an
# adopter's `go get` sees it. It builds the module zip of the working tree
# (what a commit of it would hold) into a module proxy in a folder
# ($$USERSTREAM_STACK_DIR or .devstack, under release/proxy), fails when
# the zip is over RELEASE_MAX_ZIP bytes or holds an executable or a file
# over 1 MB; compares the public API with the previous release,
# RELEASE_BASE, built from its commit RELEASE_BASE_COMMIT (not from a tag,
# which a clone may lack), and fails when VERSION is below what the
# changes need (in v0 an incompatible change needs a minor bump, from v1
# on a major one), printing the least version they allow; then it makes a
# module of examples/adopter's files with no replace, `go get`s the SDK at
# VERSION through that proxy (then the usual GOPROXY), builds and vets it,
# and runs its tests against the stack, as test-adopter does (at least one
# must run and pass).
RELEASE_BASE ?= v0.1.0
RELEASE_BASE_COMMIT ?= 56b0d759a8d7537770ae284c50d52c39aa95433f
RELEASE_MAX_ZIP ?= 4194304
release-check:
	@cd $(RELEASECHECK) && $(GO) build -o $(CURDIR)/bin/releasecheck .
	$(STACK) run sh -c 'bin/releasecheck release -root . -out "$${USERSTREAM_STACK_DIR:-$(CURDIR)/.devstack}/release/proxy" \
		-base $(RELEASE_BASE) -base-commit $(RELEASE_BASE_COMMIT) -max-zip $(RELEASE_MAX_ZIP) -consumer $(ADOPTER)'

# test: check-files (no tracked executable or file over 1 MB, before the
# stack starts), tidy-check, vet, the alert rules (check-rules), the unit and
# integration tests (go test -race ./..., with the stack's schema registry
# up for kafkasink's registry mode and the schema checks:
# USERSTREAM_REGISTRY=1, and the console's test in headless Chromium, hence
# browser-deps), the adopter example (its own module), the tests against
# the secured listeners, every decoder's fuzz target for a bounded time,
# and the fault-injection suite, which kills servers and so runs last and
# alone.
test: check-files tidy-check vet check-rules browser-deps
	USERSTREAM_REGISTRY=1 $(STACK) run $(GO) test -race -count=1 -timeout 25m ./...
	$(MAKE) test-adopter
	$(MAKE) test-secure
	$(MAKE) fuzz FUZZTIME=2000x
	$(MAKE) faults FAULTS_FLAGS="-skip 'TestPoisonGoesToDeadLetters|TestAPIFaults'"

vet:
	$(GO) vet ./...

# The cluster: three Kafka brokers (one KRaft quorum, min.insync.replicas
# 2) and a ring of three Cassandra nodes, one of each on 127.0.0.11,
# 127.0.0.12 and 127.0.0.13 with the same ports, and a PostgreSQL on
# 127.0.0.11; its own stack folder (.devstack/cluster), beside the
# single-node stack on 127.0.0.1, which stays the default for make demo
# and make test. cluster-status lists each process's resident memory.
# The variables set here win over any USERSTREAM_* of the caller's, so
# the cluster's own addresses are the ones the tests use.
CLUSTER := env -u USERSTREAM_KAFKA_BROKERS -u USERSTREAM_CASSANDRA_HOSTS -u USERSTREAM_POSTGRES_DSN \
	USERSTREAM_STACK_DIR=$(CURDIR)/.devstack/cluster USERSTREAM_STACK_HOST=127.0.0.11 USERSTREAM_STACK_NODES=3 $(STACK)
cluster-up:
	$(CLUSTER) up
cluster-down:
	$(CLUSTER) down
cluster-status:
	$(CLUSTER) status

# test-cluster: the fault scenarios on the cluster (internal/faults, build
# tag cluster; figures in RELIABILITY.md), with Cassandra on its default
# periodic commit log, replication factor 3 and LOCAL_QUORUM. Brings the
# cluster up first when it is not.
test-cluster:
	$(CLUSTER) run $(GO) test -tags cluster -count=1 -timeout 40m -v -run '^TestCluster' ./internal/faults/

# check-rules checks the Prometheus alert rules of examples/prometheus with
# promtool (Debian's prometheus package, installed when missing): their
# syntax (check rules), then their unit tests (test rules), which fail when
# a rule stops firing, or fires, where its tests say. That every metric
# they (and the console) read is one an SDK package registers is checked
# by go test at the root (alerts_test.go).
RULES := examples/prometheus
check-rules:
	internal/devstack/need-deb promtool=prometheus
	promtool check rules $(RULES)/alerts.yml
	promtool test rules $(RULES)/alerts_test.yml

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
	@cd $(RELEASECHECK) && $(GO) mod tidy -diff || { echo 'tidy-check: $(RELEASECHECK)/go.mod or go.sum is not tidy (diff above); run `go mod tidy` in $(RELEASECHECK) and commit both files' >&2; exit 1; }

# test-adopter vets the adopter example (examples/adopter, the signups
# service wired from the public API only, as a module that requires this one)
# and runs its test against the plain listeners: ingest and a bounded store
# twice (every user fetched checked in Cassandra), the store as a service
# (its /metrics), dead letters listed and redriven; and counts its wiring
# lines. Its run on the secured listeners is part of test-secure.
test-adopter:
	cd $(ADOPTER) && $(GO) vet ./... && $(GO) vet -tags secure ./...
	cd $(ADOPTER) && $(CURDIR)/$(STACK) run $(GO) test -race -count=1 -timeout 10m ./...

# schema-check compares the committed schema files (transform/schema) with
# what the encoder writes, and with the schema registry's compatibility
# rule: each version, registered in order under a fresh subject with
# BACKWARD compatibility, must be accepted, and the newest must be what the
# producer registers. make test runs the same tests among the others.
schema-check:
	$(GO) test -count=1 -run '^(TestSchemaFile|TestSchemaFieldsMatchEncoder|TestMarshalConformsToSchema)$$' ./transform/
	USERSTREAM_REGISTRY=1 $(STACK) run $(GO) test -count=1 -run '^(TestRegistrySchemaIsTheCommittedOne|TestCommittedSchemasFollowTheRegistryRule|TestSchemaEvolution)$$' ./kafkasink/

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

# The same on the cluster (make cluster-up; brought up first when it is
# not): topics and keyspaces with 3 replicas, writes at LOCAL_QUORUM, the
# ceiling measured in a keyspace of 3 replicas too, and the CPU and
# resident memory of each broker and node.
bench-e2e-cluster:
	$(CLUSTER) run $(GO) run ./internal/e2ebench -replication 3

# The tests against the secured servers (packages secure and
# examples/fullpipeline, and the adopter example's module; files built with
# -tags secure, tests named TestSecure*):
# Kafka SCRAM-SHA-512 and PLAIN with and without TLS, PostgreSQL with a
# password and verify-full, and a second Cassandra node with
# PasswordAuthenticator and TLS, which secure mode starts and this target
# stops again unless it was already running.
SECURE_PKGS ?= ./secure/... ./connect/ ./examples/fullpipeline/
test-secure:
	@if $(STACK) status 2>/dev/null | grep -q '^cassandra-secure .* up'; then keep=1; else keep=0; fi; \
	USERSTREAM_STACK_SECURE=1 $(STACK) run sh -c '$(GO) vet -tags secure $(SECURE_PKGS) && $(GO) test -tags secure -race -count=1 -timeout 10m -run "^TestSecure" $(SECURE_PKGS) && \
		cd $(ADOPTER) && $(GO) test -tags secure -race -count=1 -timeout 10m -run "^TestSecure" ./...'; \
	rc=$$?; [ $$keep = 1 ] || $(STACK) stop cassandra-secure; exit $$rc

# The Airflow DAG examples/airflow/user_automation.py run by a real Apache
# Airflow (internal/airflowtest): install-airflow installs AIRFLOW_VERSION,
# pinned by examples/airflow/constraints-*.txt, into a venv under the stack's
# folder (once; later runs reuse it), then the tests build the producer and
# consumer and run the DAG with `airflow dags test` and under a scheduler,
# checking the outbox, the topic, created_users and the run ledger.
AIRFLOW_VERSION ?= 3.3.2
test-airflow:
	$(GO) vet -tags airflow ./internal/airflowtest/
	@venv=$$(AIRFLOW_VERSION=$(AIRFLOW_VERSION) internal/airflowtest/install-airflow) && \
		echo "test-airflow: Airflow $(AIRFLOW_VERSION) in $$venv" && \
		USERSTREAM_AIRFLOW_VENV=$$venv $(STACK) run $(GO) test -tags airflow -count=1 -timeout 20m -v ./internal/airflowtest/

# The fault-injection suite (internal/faults; figures in RELIABILITY.md). It
# SIGKILLs and restarts the local stack's servers and the pipeline's
# processes, so it runs alone and in order, never beside other tests.
# USERSTREAM_FAULT_USERS sets the users per scenario (default 100,000).
.PHONY: faults faults-network fuzz
# FAULTS_FLAGS: more go test flags; make test skips with it the package's
# untagged tests (poison, API faults), which its go test ./... ran.
faults:
	$(STACK) run $(GO) test -tags faults -count=1 -timeout 30m -v $(FAULTS_FLAGS) ./internal/faults/

# faults-network: the network scenarios (internal/faults, build tag
# network; figures in RELIABILITY.md). The pipeline's processes reach the
# servers through Toxiproxy, which the stack runs with USERSTREAM_TOXIPROXY=1
# and the scenarios cut, slow, reset and
# throttle their connections. `up` restarts a broker that runs without the
# listener behind its proxy (started by make test before): ~20 s. Beside
# them, two faults that need no proxy: PostgreSQL's disk full under the
# outbox (a tmpfs tablespace the test mounts, as root) and the schema
# registry SIGKILLed during a run in registry mode (USERSTREAM_REGISTRY=1).
# 100,000 users each (USERSTREAM_FAULT_USERS). The package's untagged tests
# (poison, API faults) ran in make test already: skipped here.
faults-network:
	USERSTREAM_TOXIPROXY=1 USERSTREAM_REGISTRY=1 $(STACK) run $(GO) test -tags network -count=1 -timeout 25m -v -skip '^(TestPoisonGoesToDeadLetters|TestAPIFaults)$$' ./internal/faults/

# Every decoder's fuzz target, each for FUZZTIME: the API page, the row's
# JSON, the Kafka record (plain, and in registry mode). make test gives a
# count of inputs (2000x), not a duration: with a duration, Go 1.26's fuzz
# coordinator can fail a target with a bare "context deadline exceeded" at
# the deadline on loaded cores (go.dev/issue/75804, fixed in Go 1.27; seen in
# CI), and a count sets no deadline.
FUZZTIME ?= 15s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodePage$$' -fuzztime $(FUZZTIME) ./randomuser/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeDifferential$$' -fuzztime $(FUZZTIME) ./randomuser/
	$(GO) test -run '^$$' -fuzz '^FuzzUnmarshal$$' -fuzztime $(FUZZTIME) ./transform/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRecord$$' -fuzztime $(FUZZTIME) ./kafkasink/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRegistryRecord$$' -fuzztime $(FUZZTIME) ./kafkasink/
