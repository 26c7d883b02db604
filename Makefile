# Reliability targets (docs/reliability.md). The build and the test suite proper
# are setup.py and scripts/test.sh.
#
#   make fuzz [FUZZ_SECONDS=600]   build the libFuzzer harnesses, run each for FUZZ_SECONDS
#   make fuzz-coverage             line coverage of ext/ reached by the fuzz corpora
#   make asan-test [ARGS=...]      whole pytest suite on an ASan+UBSan build of the extension
#   make valgrind-smoke            tests/faults/smoke.py under valgrind
#
# asan-test / valgrind-smoke build a private copy in build/sanitize/ and use
# CLICKHOUSE_HTTP_URL if set, else a throwaway server (tests/server/ctl.sh).
FUZZ_SECONDS ?= 60
PYTHON ?= $(if $(wildcard .venv/bin/python),$(CURDIR)/.venv/bin/python,python3)
export PYTHON

fuzz:
	$(MAKE) -C fuzz run FUZZ_SECONDS=$(FUZZ_SECONDS)

fuzz-coverage:
	$(MAKE) -C fuzz coverage

asan-test:
	bash tests/faults/sanitized.sh asan $(ARGS)

valgrind-smoke:
	bash tests/faults/sanitized.sh valgrind

.PHONY: fuzz fuzz-coverage asan-test valgrind-smoke
