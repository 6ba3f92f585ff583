# The two commands a developer needs:
#   make run    the whole validation: kernel source, patches, build, guests,
#               selftests on every target, a summary table
#   make test   the same set-up, then pytest over tests/ (unit tests of the
#               harness and the integration suite)
# Both install what is missing first (make setup) and are idempotent.

PYTHON := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: all setup run test lint clean

all: test

setup:
	@bash ci/setup.sh

run: setup
	$(PYTHON) -m harness run

test: setup
	$(PYTHON) -m pytest $(PYTEST_ARGS)

lint: setup
	.venv/bin/ruff check harness tests
	.venv/bin/mypy harness

clean:
	rm -rf out selftests/build
