# The two commands a developer needs:
#   make run    the whole validation: kernel source, patches, build, guests,
#               selftests on every target, a summary table
#   make test   the same set-up, then pytest over tests/ (unit tests of the
#               harness and the integration suite)
# Both install what is missing first (make setup) and are idempotent.
#   make debug  the debug kernel (KASAN, lockdep, DEBUG_PAGEALLOC...): build
#               it, run the selftests, a million-write stress and 100,000
#               fuzz calls in it; any kernel report fails (not part of CI)

PYTHON := .venv/bin/python
PYTEST_ARGS ?=
# The harness runs make itself (kernel, selftests, 6.1's vm/Makefile): it must
# not inherit this make's level and flags (lib.mk reads MAKELEVEL to decide
# where its output goes).
CLEAN_ENV := env -u MAKELEVEL -u MAKEFLAGS -u MFLAGS

.PHONY: all setup run test debug lint clean

all: test

setup:
	@bash ci/setup.sh

run: setup
	$(CLEAN_ENV) $(PYTHON) -m harness run

test: setup
	$(CLEAN_ENV) $(PYTHON) -m pytest $(PYTEST_ARGS)

debug: setup
	$(CLEAN_ENV) $(PYTHON) -m harness run --profile debug --targets ours
	$(CLEAN_ENV) $(PYTHON) -m harness stress --profile debug --kernel ours
	$(CLEAN_ENV) $(PYTHON) -m harness fuzz --profile debug --kernel ours

lint: setup
	.venv/bin/ruff check harness tests
	.venv/bin/mypy harness

clean:
	rm -rf out selftests/build
