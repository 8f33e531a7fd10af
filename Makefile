# ClaudeCloud. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV ?= $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
export UV_LINK_MODE ?= copy

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

.PHONY: uv
uv: ## Install uv (the package manager) when it is missing
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv

.PHONY: env
env: uv ## Create or update the virtual environment from the lock file
	$(UV) sync --frozen --all-packages

.PHONY: run
run: env ## Run the whole platform on its embedded defaults (NATS, SQLite, every service)
	$(UV) run --frozen claudecloud-run

.PHONY: test
test: env test-tools web ## Run the whole suite: it starts its own PostgreSQL, NATS, Redis (and Docker engine)
	$(UV) run --frozen pytest $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: env test-tools ## Only the fast tests: no process, no server (in-memory broker, SQLite)
	$(UV) run --frozen pytest -m unit $(PYTEST_ARGS)

.PHONY: test-integration
test-integration: env test-tools ## Only the tests on a real NATS and PostgreSQL, in this process
	$(UV) run --frozen pytest -m integration $(PYTEST_ARGS)

.PHONY: test-e2e
test-e2e: env test-tools web ## Only the tests that start the platform's processes (make run's launcher too)
	$(UV) run --frozen pytest -m e2e $(PYTEST_ARGS)

.PHONY: test-docker
test-docker: env test-tools web ## Only the tests on a real Docker engine (started and images built if missing)
	$(UV) run --frozen pytest -m docker $(PYTEST_ARGS)

.PHONY: test-tools
test-tools: ## Install the system tools the tests use when missing (shellcheck, tmux, git, postgresql, redis-server)
	bash scripts/test-tools.sh

.PHONY: web
web: ## Build the dashboard (web/out) unless up to date; needs Node.js 18.18+ and npm
	bash web/build.sh

.PHONY: web-dev
web-dev: ## The dashboard with hot reload on :3000, the API forwarded to API_URL (default :8000)
	cd web && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && NEXT_TELEMETRY_DISABLED=1 npx next dev

.PHONY: lint
lint: env ## ruff format check, ruff, mypy strict
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen ruff check .
	$(UV) run --frozen mypy

.PHONY: format
format: env ## Format and fix what ruff can
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

.PHONY: bench
bench: env ## Print the benchmark figures (see bench/)
	$(UV) run --frozen python -m bench.instances
	$(UV) run --frozen python -m bench.instances --creates 50 --replicas 2
	$(UV) run --frozen python -m bench.instances --trace
	$(UV) run --frozen python -m bench.auth
	$(UV) run --frozen python -m bench.auth --instance-cache 0
	$(UV) run --frozen python -m bench.auth --trace
	$(UV) run --frozen python -m bench.terminal
	$(UV) run --frozen python -m bench.billing
	$(UV) run --frozen python -m bench.usage
	$(UV) run --frozen python -m bench.netbird
	$(UV) run --frozen python -m bench.checkpoint

.PHONY: chaos
chaos: N ?= 100
chaos: KILLS ?= 20
chaos: env ## Lifecycles from several clients while services and NATS are killed; counts lost, doubled, stuck, orphans (N=100 KILLS=20)
	$(UV) run --frozen python -m bench.chaos --lifecycles $(N) --kills $(KILLS) $(CHAOS_ARGS)

.PHONY: bench-billing
bench-billing: env ## Stripe webhooks/s beside /healthz; Pay → running beside create → running
	$(UV) run --frozen python -m bench.billing

.PHONY: bench-usage
bench-usage: env ## GET /billing/usage p50 for a user with a year of samples, beside /billing/status
	$(UV) run --frozen python -m bench.usage

.PHONY: bench-activity
bench-activity: env ## One poll of 1,000 and of 10,000 instances: wall time and CPU, and the growth
	$(UV) run --frozen python -m bench.activity

.PHONY: bench-auth
bench-auth: env ## Authenticated reads/s beside /healthz (with the instance cache, then without)
	$(UV) run --frozen python -m bench.auth
	$(UV) run --frozen python -m bench.auth --instance-cache 0

.PHONY: docker-engine
docker-engine: ## Make sure a Docker engine answers (installs docker.io and starts dockerd)
	bash scripts/docker-engine.sh

.PHONY: base-image
base-image: ## Build the local base image (debootstrap + docker import; no registry needed)
	bash docker/base/build-base.sh

.PHONY: instance-image
instance-image: env ## Build the instance image unless up to date (INSTANCE_IMAGE, BASE_IMAGE, CLAUDE_CODE)
	UV="$(UV)" bash docker/instance/build.sh

.PHONY: service-image
service-image: env ## Build the one service image unless up to date (docker/service.Dockerfile)
	UV="$(UV)" bash docker/service/build.sh

.PHONY: stack-images
stack-images: env ## Build every image deploy/compose.yaml runs (service, nats, postgres, instance)
	UV="$(UV)" bash deploy/build.sh

.PHONY: bench-connections
bench-connections: env ## 1,000 idle terminals and 1,000 event streams through one gateway: echo beside them, memory each
	$(UV) run --frozen python -m bench.connections

.PHONY: capacity
capacity: env ## 1,000, 5,000 and 10,000 workstations on the real services: commands under churn, poll, memory, tables (about 10 min)
	$(UV) run --frozen python -m bench.capacity --instances 1000 5000 10000 $(CAPACITY_ARGS)

.PHONY: bench-terminal
bench-terminal: env ## Terminal through the gateway vs. straight to the agent: echo latency, cat throughput, 50 terminals
	$(UV) run --frozen python -m bench.terminal

.PHONY: bench-docker
bench-docker: env instance-image ## Benchmark instance create and wake on Docker against raw docker
	$(UV) run --frozen python -m bench.docker

.PHONY: clean
clean: ## Remove local data and caches
	rm -rf .data .mypy_cache .ruff_cache .pytest_cache
