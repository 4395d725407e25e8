# The words a newcomer would guess. Every target creates the virtualenv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench fuzz security clean cluster

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# The admin dashboard's chart library, from the npm registry at the version and sha512 pinned in the script (gitignored).
VENDORED := dashboard/static/dashboard/vendor/chart.js/.vendored
$(VENDORED): scripts/vendor_static.py
	$(PYTHON) scripts/vendor_static.py

## run: the whole stack (web + WebSocket, worker, beat) on embedded defaults or $$DATABASE_URL / $$REDIS_URL
run: $(STAMP) $(VENDORED)
	$(PY) -m ibw.stack

## cluster: the Kubernetes topology rehearsed on loopback (2 gunicorn, 2 Daphne, a worker per queue, beat, Caddy) on $$DATABASE_URL / $$REDIS_URL
cluster: $(STAMP) $(VENDORED)
	$(PY) -m tests.cluster

## test: the test suite (PostgreSQL and Redis when $$DATABASE_URL / $$REDIS_URL are set)
test: $(STAMP) $(VENDORED)
	$(PY) -m pytest $(PYTEST_ARGS)

## lint: ruff, the import layers (import-linter) and mypy on services, selectors and tasks
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	DEBUG=true $(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## fuzz: schemathesis over /api/schema/ against a live server (PostgreSQL + Redis; FUZZ_EXAMPLES sets the depth)
FUZZ_EXAMPLES ?= 40
FUZZ_PHASES ?= examples,coverage,fuzzing
fuzz: $(STAMP)
	$(PY) scripts/fuzz.py --max-examples $(FUZZ_EXAMPLES) --phases $(FUZZ_PHASES)

## security: dependency audit (pip-audit) and static scan (bandit, high severity)
security: $(STAMP)
	$(VENV)/bin/bandit -q -r ibw users uploads conferences events connections live meetings quests chats notifications broadcasts bot privacy dashboard integrations -x '*/migrations/*' -lll
	scripts/audit.sh

## bench: every script in bench/ against PostgreSQL and Redis ($$DATABASE_URL / $$REDIS_URL); writes bench/RESULTS.md
bench: $(STAMP) $(VENDORED)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .run staticfiles .pytest_cache dashboard/static/dashboard/vendor
