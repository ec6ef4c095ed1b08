# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv and install first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint bench docs clean chromium docker

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/sandbox demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The console's browser tests drive Debian's Chromium (never a downloaded browser); a CJK font makes the
# Chinese pages' screenshots readable.
chromium:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium fonts-wqy-zenhei)

# The docker workspace backend's tests need an engine: Debian's docker.io (never a downloaded binary).
# The tests start dockerd themselves (vfs storage, no bridge) when none answers, and stop it after.
docker:
	@test -x /usr/sbin/dockerd || command -v dockerd >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker.io)

test: $(STAMP) lint chromium docker
	$(BIN)/pytest

docs: $(STAMP)
	$(BIN)/python -c "from sandbox.cli import reference; print(reference(), end='')" > docs/cli.md

bench: $(STAMP)
	$(BIN)/python bench/job.py

clean:
	rm -rf $(VENV) .sandbox .pytest_cache
