# Two entry points for a fresh machine: `make run` and `make test` (see README.md).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install run test lint bench etcd

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,ha]'
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/commex demo
	$(VENV)/bin/commex serve

# The Patroni failover drills need etcd (Debian's etcd-server): installed when missing and we
# are root; otherwise those drills are skipped with the reason (and fail when CI=1).
etcd:
	@command -v etcd >/dev/null || { [ "$$(id -u)" = 0 ] && { apt-get install -y -q etcd-server >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null && apt-get install -y -q etcd-server >/dev/null; }; } || \
	  echo "etcd-server not installed: the Patroni drills will be skipped"; }

test: install etcd
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: install
	$(PY) -m loadtest.bench_engine
