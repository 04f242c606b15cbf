# Taskforge. `make help` lists the targets.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/taskforge

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/taskforge
	$(GO) build -o $(BIN) ./cmd/taskforge

.PHONY: run
run: build ## migrate, seed a demo workspace, serve against DATABASE_URL or a local PostgreSQL
	@url=$$(scripts/postgres.sh DATABASE_URL taskforge) && \
	  echo "taskforge: using $$url" && \
	  DATABASE_URL="$$url" JWT_SECRET="$$(scripts/dev-secret.sh)" \
	  WEBHOOK_SECRET_KEY="$$(scripts/dev-webhook-key.sh)" ./$(BIN) serve --demo

.PHONY: token
token: build ## mint a development token: make token ID=alice EMAIL=alice@example.com NAME=Alice
	@JWT_SECRET="$$(scripts/dev-secret.sh)" ./$(BIN) token --user "$(ID)" --email "$(EMAIL)" --name "$(NAME)"

.PHONY: test
test: ## run every test (race detector on) against TEST_DATABASE_URL or a local PostgreSQL, then test-pgbouncer, test-clients and test-cluster
	@url=$$(scripts/postgres.sh TEST_DATABASE_URL postgres) && \
	  echo "taskforge: testing against $$url" && \
	  env -u TEST_PGBOUNCER_URL TEST_DATABASE_URL="$$url" $(GO) test -race -count=1 -timeout 30m -skip '$(ALONE)' ./... && \
	  echo "taskforge: $(ALONE) alone" && \
	  env -u TEST_PGBOUNCER_URL TEST_DATABASE_URL="$$url" $(GO) test -race -count=1 -timeout 30m -run '$(ALONE)' ./projections/
	@$(MAKE) -s test-pgbouncer
	@$(MAKE) -s test-clients
	@$(MAKE) -s test-cluster

# Tests run after the others, alone: TestPlansAtScale loads about 6M rows, in statements and index
# builds that each hold an xid for seconds (up to 14 s seen), and the read horizon is the whole
# server's: every other package's projections, subscriptions and consistency waits stood still
# meanwhile, and their bounded waits ran out (TIMEOUT, STALE) on a loaded machine.
ALONE := ^TestPlansAtScale$$

# Through PgBouncer (internal/pgtest: with TEST_PGBOUNCER_URL set, the tests' pools go through it):
# the whole event store suite but the test that LISTENs on a pooled connection on purpose
# (TestThroughPgBouncer LISTENs on a direct one instead), and the tests about PgBouncer elsewhere.
PGBOUNCER_SKIP := ^TestNotifierWakesReadersOnCommit$$
PGBOUNCER_RUN  := ^(TestExactlyOnceThroughPgBouncer|TestLeasedWorkersApplyEachEventOnce|TestRebuildLockOnTheDirectPool|TestGraphQLThroughPgBouncer|TestProbeSeesPgBouncer|TestOpenPoolsRefusesAPoolerForSessions)$$

.PHONY: test-pgbouncer
test-pgbouncer: ## the event store suite, exactly-once projections and a GraphQL end-to-end test through a PgBouncer in transaction mode
	@GO="$(GO)" scripts/test-pgbouncer.sh \
	  "-race -count=1 -timeout 10m -skip $(PGBOUNCER_SKIP) ./eventstore" \
	  "-race -count=1 -p 1 -timeout 10m -run $(PGBOUNCER_RUN) ./projections ./app ./internal/database"

.PHONY: test-clients
test-clients: ## npm's GraphQL clients (graphql-js, urql, graphql-ws, graphql-codegen) against a served binary; needs Node.js 20+
	@GO="$(GO)" scripts/client-tests.sh

# The local cluster of README "Scaling out" (scripts/cluster.sh says what it runs).
.PHONY: cluster
cluster: build ## PgBouncer, 2 API and 2 worker processes on loopback ports (CLUSTER_APIS, CLUSTER_WORKERS); Ctrl-C stops them
	@scripts/cluster.sh

.PHONY: test-cluster
test-cluster: build ## start scripts/cluster.sh on its own database and ports, query both APIs, list the nodes, Ctrl-C it, check all is gone
	@scripts/cluster-smoke.sh

# Fuzz targets as package:Name. Each also runs as a unit test on its seeds (testdata/fuzz/).
FUZZ_TARGETS := ./eventstore:FuzzParsePosition ./domain:FuzzCleanLine ./domain:FuzzCommentBody ./domain:FuzzAddressCheck ./commands:FuzzRequestID \
	./graph:FuzzConsistencyToken ./graph:FuzzDeadCursor ./graph:FuzzTimeScalar \
	./projections:FuzzTaskCursor ./sideeffects:FuzzParseDeadLetterID ./sideeffects:FuzzParseDeadLetterCursor ./internal/cursor:FuzzCursor
# A count, not a duration: with a duration, Go 1.26's fuzz coordinator can report its own deadline
# as the target's failure ("context deadline exceeded", no failing input) when a worker is busy as
# it expires (golang/go#75804, fixed in Go 1.27); a count has no deadline to race.
FUZZTIME ?= 10000x

.PHONY: fuzz
fuzz: ## fuzz the input validators and cursor parsers, FUZZTIME (10000x: inputs) each; not part of make test
	@url=$$(scripts/postgres.sh TEST_DATABASE_URL postgres) && \
	  for t in $(FUZZ_TARGETS); do \
	    echo "fuzz $${t#*:} in $${t%%:*}"; \
	    TEST_DATABASE_URL="$$url" $(GO) test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) $${t%%:*} || exit 1; \
	  done

.PHONY: bench
bench: build ## event store benchmarks against a scratch database (JSON=1 for JSON lines)
	@url=$$(scripts/postgres.sh DATABASE_URL postgres) && \
	  DATABASE_URL="$$url" ./$(BIN) bench append $(if $(JSON),--json)

.PHONY: migrate
migrate: build ## apply pending migrations to DATABASE_URL (or the local database)
	@url=$$(scripts/postgres.sh DATABASE_URL taskforge) && DATABASE_URL="$$url" ./$(BIN) migrate

.PHONY: generate
generate: ## regenerate gqlgen code from graph/schema (go generate ./...)
	$(GO) generate ./...

# Generated code is regenerated and diffed, so a schema change without its generated code (or a
# hand edit of generated code) fails here rather than in review.
GENERATED := graph/generated graph/model graph/*.resolvers.go


.PHONY: layering
layering: ## check the import rules of the floors (layers_test.go: each package's allowed imports)
	$(GO) test -count=1 -run '^TestLayers$$' .

.PHONY: lint
lint: ## golangci-lint at a pinned version (.golangci.yml: errcheck, unused, ineffassign)
	@scripts/lint.sh

.PHONY: check
check: ## gofmt, go vet, lint, layering, generated code up to date
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...
	@$(MAKE) -s lint
	@$(MAKE) -s layering
	@$(MAKE) -s generate
	@git diff --exit-code --stat -- $(GENERATED) || \
	  (echo "make check: generated code is out of date: run make generate and commit it"; exit 1)
	@test -z "$$(git status --porcelain -- $(GENERATED))" || \
	  (git status --porcelain -- $(GENERATED); echo "make check: untracked generated files"; exit 1)
