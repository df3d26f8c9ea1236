# Two user-facing targets: `make run` (the default experiment) and `make test`.
# Each creates .venv from the pinned requirements when it is missing or stale.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
INSTALL_LOG := $(VENV)/install.log
PIP := $(VENV)/bin/pip install --disable-pip-version-check
ARGS ?=

.PHONY: venv run test test-cluster bench clean-venv

venv: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	@echo "setting up $(VENV) from the pinned requirements (about a minute; log: $(INSTALL_LOG))"
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@{ $(PIP) -r requirements.txt && \
	   $(PIP) --no-deps -r requirements-nodeps.txt && \
	   $(PIP) --no-deps --no-build-isolation -e . ; } > $(INSTALL_LOG) 2>&1 || \
	 { tail -n 30 $(INSTALL_LOG); echo "error: installing the requirements failed (log: $(INSTALL_LOG))"; exit 1; }
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/python bin/spam_main --source=CartPole-v1 --target=InvertedPendulum-v4 $(ARGS)

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q -n 2 --dist loadfile -m "not two_nodes" tests

test-cluster: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m two_nodes tests

bench: $(STAMP)
	$(VENV)/bin/python bin/spam_bench $(ARGS)

clean-venv:
	rm -rf $(VENV)
