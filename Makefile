# Two commands do all the set-up: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
STAMP := $(VENV)/.installed-stamp

.PHONY: run dev test lint install serve-prod messages loadtest bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# What a clinic runs on its laptop: production-safe (debug off, the app's own 404/500 pages,
# static files compressed by whitenoise, gunicorn) on http://127.0.0.1:$(PORT) only. The secret
# key is generated once into $(SECRET_KEY_FILE) (untracked, 0600). LANCAR_LOCAL_HTTP lets the
# session cookie travel over plain http on this machine; a server never sets it (README).
# The task worker (imports run in the background) starts beside the server and is stopped
# with it, however the server ends (Ctrl+C included).
SECRET_KEY_FILE ?= .secret_key
CREDENTIALS_FILE ?= demo-credentials.txt
RUN_ENV := DJANGO_DEBUG=0 LANCAR_LOCAL_HTTP=1 DJANGO_SECURE_SSL_REDIRECT=0 \
	DJANGO_ALLOWED_HOSTS=localhost,127.0.0.1 LANCAR_SECRET_KEY_FILE=$(SECRET_KEY_FILE)
run: install
	$(PY) -m clinic.local_secret $(SECRET_KEY_FILE)
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py load_demo --credentials-file $(CREDENTIALS_FILE)
	$(RUN_ENV) $(PY) manage.py clean_imports
	$(RUN_ENV) $(PY) manage.py collectstatic --noinput -v0
	@echo "Lancar is at http://127.0.0.1:$(PORT)/ (sign in with a demo user from $(CREDENTIALS_FILE))"
	@$(RUN_ENV) $(PY) manage.py db_worker --no-reload & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(RUN_ENV) $(VENV)/bin/gunicorn clinic.wsgi --workers 2 --no-control-socket \
		--bind 127.0.0.1:$(PORT)

# For developers: Django's runserver with debug on (tracebacks, auto-reload), and the worker.
dev: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo
	$(PY) manage.py clean_imports
	@echo "Lancar (debug) is at http://127.0.0.1:$(PORT)/"
	@$(PY) manage.py db_worker --no-reload & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

lint: install
	$(VENV)/bin/ruff check .

test: lint
	$(VENV)/bin/pytest

# Compile the translation catalogues after editing locale/*/LC_MESSAGES/django.po.
messages: install
	$(PY) manage.py makemessages --locale id --locale en --ignore '.venv/*' --no-obsolete
	$(PY) manage.py compilemessages --ignore '.venv/*'

# A production-like server: gunicorn with whitenoise, debug off (needs DJANGO_SECRET_KEY).
serve-prod: install
	DJANGO_DEBUG=0 $(PY) manage.py collectstatic --noinput
	DJANGO_DEBUG=0 $(PY) manage.py migrate --noinput
	DJANGO_DEBUG=0 $(VENV)/bin/gunicorn clinic.wsgi --workers 3 --no-control-socket --bind 127.0.0.1:$(PORT)

# Load test: gunicorn (4 workers, debug off) on a fresh PostgreSQL database lancar_load
# (LOAD_DATABASE_URL overrides it), LOAD_USERS midwives saving for LOAD_SECONDS; figures in
# artifacts/loadtest.json. Fails on any 5xx or on an acknowledged save missing or duplicated.
LOAD_USERS ?= 20
LOAD_SECONDS ?= 60
loadtest: install
	$(PY) -m bench.loadtest --users $(LOAD_USERS) --seconds $(LOAD_SECONDS)

# Benchmark (issues 7, 14, 15): the paper's study and a two-group study of SIZES mothers each on
# SQLite and PostgreSQL (a scratch database lancar_bench, created and dropped; the local cluster
# is started if it is down), the median of BENCH_RUNS runs of each page, the export against its
# SQL floor, results.json against its floor (pandas and independent numpy/scipy, bench/floor.py)
# and BENCH_IMPORT_RUNS imports. Prints a table and writes artifacts/bench.json; 100,000
# mothers take several minutes per database.
SIZES ?= 1000 10000 100000
BENCH_DATABASES ?= sqlite postgresql
BENCH_RUNS ?= 5
BENCH_IMPORT_RUNS ?= $(BENCH_RUNS)
bench: install
	$(PY) -m bench.run --sizes "$(SIZES)" --databases "$(BENCH_DATABASES)" --runs $(BENCH_RUNS) \
		--import-runs $(BENCH_IMPORT_RUNS)

clean:
	rm -rf $(VENV) staticfiles
