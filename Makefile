# SaaS LiteLLM — everyday commands. `make run` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres

.PHONY: setup run test lint format bench bench-credits

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt clients/python/pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	# The typed client is tested against the server by the same suite.
	$(BIN)/pip install --quiet -e ./clients/python
	touch $@

setup: $(VENV)/.installed

# Embedded SQLite, demo organization/team/key/model, server on http://127.0.0.1:8003;
# its Prometheus figures in a temporary directory of its own (gunicorn.conf.py);
# a worker beside it (alerts, webhooks, maintenance), stopped with the server.
run: setup
	$(BIN)/python manage.py quickstart
	$(BIN)/python manage.py worker & trap "kill $$!" EXIT; \
	PROMETHEUS_MULTIPROC_DIR=$$(mktemp -d) ADMIN_LOOPBACK_TRUST=true BIND=127.0.0.1:8003 $(BIN)/gunicorn saas_litellm.asgi:application --config gunicorn.conf.py

# The whole suite, on the PostgreSQL at TEST_DATABASE_URL.
test: setup
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/python -m pytest -n 2

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: setup
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/python bench/run.py

bench-credits: setup
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/python bench/credits_bench.py
