# Every habit is a target; CI runs `make ci`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements-dev.lock | cksum | cut -d' ' -f1)
# The locked versions, for Python 3.11 on Linux x86_64 (what CI runs); `make lock` re-resolves.
LOCK_FLAGS := --generate-hashes --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
	--custom-compile-command "make lock"

.PHONY: serve test lint format typecheck bench ig ci clean install lock artefact

# Exact versions with hashes first (nothing unlocked is downloaded), then the project itself.
$(STAMP): pyproject.toml requirements-dev.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

lock: $(STAMP)  ## re-resolve requirements*.lock from pyproject.toml (newest versions allowed)
	$(BIN)/uv pip compile pyproject.toml --extra embedded --extra dev $(LOCK_FLAGS) \
		--upgrade -o requirements-dev.lock
	$(BIN)/uv pip compile pyproject.toml --extra embedded $(LOCK_FLAGS) \
		-c requirements-dev.lock -o requirements.lock

serve: $(STAMP)  ## install, then run the server on the embedded database (port 8080)
	$(BIN)/fhir-server serve --host $${HOST:-127.0.0.1} --port $${PORT:-8080} --data $${DATA:-./data}

test: $(STAMP)  ## install, then run the whole test suite
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)  ## ruff, and the layering contract (pyproject.toml [tool.importlinter])
	$(BIN)/ruff check fhir_server tests bench scripts
	$(BIN)/ruff format --check fhir_server tests bench scripts
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format fhir_server tests bench scripts
	$(BIN)/ruff check --fix fhir_server tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy fhir_server

bench: $(STAMP)  ## REST core benchmark against the raw driver (see docs/benchmarks.md)
	$(BIN)/python -m bench.rest_bench $(BENCH_ARGS)

ig: $(STAMP)  ## after editing ig/: rebuild its index and the core definitions it needs, check it
	$(BIN)/python scripts/build_ig_index.py
	$(BIN)/python scripts/gen_fhir_definitions.py
	$(BIN)/fhir-server ig check ig

artefact: $(STAMP)  ## build the wheel, install it in a fresh venv, run it from an empty directory
	$(BIN)/python scripts/check_installed_artefact.py

ci: test lint typecheck artefact

clean:
	rm -rf $(VENV) data .pytest_cache
