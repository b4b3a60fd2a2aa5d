# The two set-up commands are `make demo` and `make test`: each creates .venv (Python 3.12) and
# installs the project when needed.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
PYTEST_ARGS ?=
BENCH_ARGS ?= --profile

# Python 3.12: the pyenv shim (this repo pins 3.12 in .python-version), else any installed 3.12.
PYTHON312 := $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12; do \
	if $$p -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1; then echo $$p; break; fi; done)

.PHONY: demo serve test test-postgres fuzz soak lint install clean bench

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON312)" || { echo "Python 3.12 not found (pyenv install 3.12, or apt-get install python3.12)"; exit 1; }
	@test -x $(PY) || $(PYTHON312) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

install: $(VENV)/.installed

demo: install
	$(PY) manage.py demo --port $(PORT)

# Production-like: gunicorn + AGENTS agent processes (PostgreSQL when DATABASE_URL is set).
serve: install
	PORT=$(PORT) bin/serve

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# The whole suite again on PostgreSQL (CI runs it; DATABASE_URL must point at a server).
test-postgres: install
	@test -n "$(DATABASE_URL)" || { echo "set DATABASE_URL=postgres://..."; exit 1; }
	$(PY) -m pytest $(PYTEST_ARGS)

# The performance harness (bench/): production stack at scale on loopback, budgets judged against a
# same-run ceiling; writes bench/results.json. Uses PostgreSQL and Redis on localhost when they answer.
bench: install
	$(PY) -m bench.run $(BENCH_ARGS)

# The long schemathesis run (the suite runs a short one): FUZZ_EXAMPLES per operation and mode, as
# an admin and as a viewer, against Local Arthur's OpenAPI document.
FUZZ_EXAMPLES ?= 200
fuzz: install
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/security/test_fuzz_api.py -s -p no:cacheprovider $(PYTEST_ARGS)

# The long reliability runs (the suite's PostgreSQL pass runs short ones): tests/reliability with
# SOAK=1 — thousands of jobs through agent processes killed and a server restarted on the way, and
# the pollers-and-submitters load for ten minutes. Needs DATABASE_URL (PostgreSQL).
soak: install
	@test -n "$(DATABASE_URL)" || { echo "set DATABASE_URL=postgres://..."; exit 1; }
	SOAK=1 $(PY) -m pytest tests/reliability -s -p no:cacheprovider $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) var test-artifacts staticfiles
