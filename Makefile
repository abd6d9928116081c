# Two entry points for a fresh machine: `make run` and `make test` (see README.md).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install browser etcd run test lint bench

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,ha]'
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/commex demo
	@echo "starting the exchange; open the desk at http://127.0.0.1:8080/ (Ctrl-C stops it and its embedded PostgreSQL)"
	$(VENV)/bin/commex serve

# Debian's chromium for the desk's browser tests (tests/e2e/desk/), installed with apt-get when
# missing and we are root; otherwise those tests skip with the reason (and fail when CI is set).
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk; \
	else echo "note: /usr/bin/chromium is missing and installing it needs root: the desk's browser tests will skip"; fi

# The Patroni failover drills need etcd (Debian's etcd-server): installed when missing and we
# are root; otherwise those drills are skipped with the reason (and fail when CI=1).
etcd:
	@command -v etcd >/dev/null || { [ "$$(id -u)" = 0 ] && { apt-get install -y -q etcd-server >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null && apt-get install -y -q etcd-server >/dev/null; }; } || \
	  echo "etcd-server not installed: the Patroni drills will be skipped"; }

test: install browser etcd
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: install
	$(PY) -m loadtest.bench_engine
