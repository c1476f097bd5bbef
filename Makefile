# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/connector_test

.PHONY: demo migrate lint test test-sqlite test-postgres bench bench-large bench-huge install clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) app.py demo   # runs the release step (`app.py migrate`) itself

migrate: install
	$(PY) app.py migrate

# The suite on SQLite, then on PostgreSQL when a server answers (CI always has one).
test: install lint
	$(PY) -m pytest -q
	@if $(PY) -m bench.pg_ready "$(PG_TEST_URL)"; then \
		TEST_DATABASE_URL="$(PG_TEST_URL)" $(PY) -m pytest -q; \
	else echo "PostgreSQL is not reachable at $(PG_TEST_URL): skipped the PostgreSQL run"; fi

# Import order and unused code (ruff.toml); before the tests, so CI fails fast on it.
lint: install
	$(VENV)/bin/ruff check .

test-sqlite: install
	$(PY) -m pytest -q

test-postgres: install
	$(PY) -m bench.pg_ready "$(PG_TEST_URL)" --create
	TEST_DATABASE_URL="$(PG_TEST_URL)" $(PY) -m pytest -q

bench: install
	$(PY) -m bench

bench-large: install
	$(PY) -m bench --large

# N = 1,000,000 on PostgreSQL (not in CI; an hour or more). BENCH_ARGS, e.g.
# --memory-baseline bench/results/bench-n100000-….json to reuse a bench-large run's 100k peak.
BENCH_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/connector_bench
bench-huge: install
	$(PY) -m bench --huge --database-url "$(BENCH_DATABASE_URL)" $(BENCH_ARGS)

clean:
	rm -rf .connector bench/results/*.tmp
