# The two commands a newcomer needs: `make demo` and `make test`.
# The venv's interpreter: Debian's python3.11 where the machine has it with its venv module
# and headers (`debs` installs both as root), else the first python3 on PATH. Debian's is
# statically linked (its changelog: LTO and profile-guided builds); a default source build
# (pyenv's, say) runs from a -fPIC libpython and spent 12 % more instructions and 22-29 % more
# CPU a request on the same code (benches/README.md, "The interpreter"). `?=` is deferred:
# this is read when the venv is made, after `debs` ran.
DEBIAN_PYTHON := /usr/bin/python3.11
DEBIAN_PYTHON_READY := import ensurepip, os, sysconfig; \
	assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))
PYTHON ?= $(or $(shell $(DEBIAN_PYTHON) -c '$(DEBIAN_PYTHON_READY)' >/dev/null 2>&1 && \
	echo $(DEBIAN_PYTHON)),python3)
VENV := .venv
PY := $(VENV)/bin/python
DEBS := python3.11-venv python3.11-dev pcscd vsmartcard-vpcd libpcsclite-dev swig mosquitto \
	chromium chromium-driver libnet-smpp-perl postgresql

.PHONY: demo demo-debs test debs venv lint typecheck imports pytest bench mutants mutants-pending mutants-report \
	clean

# `make demo` installs from Debian only what the demo uses: the interpreter's venv module and
# headers, pcscd and the vpcd driver for its agent step (skipped, with the reason, without
# them) and what builds pyscard. Chromium and mosquitto are for the tests (`make test`).
DEMO_DEBS := python3.11-venv python3.11-dev pcscd vsmartcard-vpcd libpcsclite-dev swig

demo: demo-debs $(VENV)/.installed
	$(PY) -m lps.demo

demo-debs:
	@$(MAKE) --no-print-directory debs DEBS="$(DEMO_DEBS)"

test: debs venv lint typecheck imports pytest

# Debian packages the tests need (real pcscd + vpcd virtual reader, mosquitto, headless
# Chromium + chromedriver for the console's browser tests; swig and the
# pcsclite headers build pyscard; Net::SMPP for the messaging tests' SMSC that checks
# credentials; PostgreSQL's server binaries, from which tests/pg starts clusters of its own).
# Installed only when running as root and missing.
debs:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "missing Debian packages (run as root or install):$$missing"; fi; \
	fi

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: debs $(VENV)/.installed

lint: venv
	$(VENV)/bin/ruff check .

# mypy --strict over every package, the tests and the benchmarks ([tool.mypy] in
# pyproject.toml names the untyped third-party packages).
TYPED := iso8583 switch settlement hsm_sim terminal_agent lps tests benches \
	tools/import_contracts.py
typecheck: venv
	$(VENV)/bin/mypy --strict $(TYPED)

# The import contracts ([tool.importlinter] in pyproject.toml, docs/architecture.md).
imports: venv
	$(VENV)/bin/lint-imports --no-logo

# The suite in TEST_WORKERS processes (pytest-xdist), each test file kept whole in one of them
# (`--dist loadfile`: a module's fixtures, a PostgreSQL pair among them, are made once). Much of
# a test's time is spent waiting for a server it started, so two workers keep both cores busy
# where one left one idle; services the whole machine shares (pcscd's vpcd slots) are held
# under their own lock (tests/agent/conftest.py). TEST_WORKERS=0 runs in this process alone.
# The 30 slowest tests are listed at the end: the suite has a 15-minute budget.
TEST_WORKERS ?= 2
pytest: venv
	$(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=30

bench: venv
	$(VENV)/bin/pytest benches -q --benchmark-only

# Mutation testing (docs/testing.md): slow, so not part of `make test` (which runs a fixed
# sample, tests/money/test_mutation_sample.py). MUTANTS narrows the run to mutant-name globs,
# one module at a time on a shared machine: make mutants MUTANTS='settlement.reconcile.*'
MUTANTS ?=
MUTANT_CHILDREN ?= 2
mutants: venv
	$(VENV)/bin/mutmut run --max-children $(MUTANT_CHILDREN) $(MUTANTS)
	$(PY) -m tests.money.mutation_report $(MUTANTS)

# Only the money mutants of MUTANTS (globs) that no run has decided: a glob alone reruns every
# mutant it names, killed ones too. The names come from mutants/ as the last run left it; the
# tests each mutant runs are narrowed first (tests/money/mutation_narrow.py).
mutants-pending: venv
	$(PY) -m tests.money.mutation_narrow
	@names="$$($(PY) -m tests.money.mutation_report --pending $(MUTANTS))"; \
	if [ -z "$$names" ]; then echo "no pending money mutants in $(MUTANTS)"; \
	else $(VENV)/bin/mutmut run --max-children $(MUTANT_CHILDREN) $$names; fi
	$(PY) -m tests.money.mutation_report $(MUTANTS)

# The report of what mutants/ holds so far (the table docs/testing.md carries).
mutants-report: venv
	$(PY) -m tests.money.mutation_report $(MUTANTS)

clean:
	rm -rf $(VENV) var mutants .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
