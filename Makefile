# Every habit is a target; CI runs `make ci`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: serve test lint format typecheck bench ig ci clean install

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[embedded,dev]"
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

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

ig: $(STAMP)  ## after editing ig/: rebuild its index and the core definitions it needs
	$(BIN)/python scripts/build_ig_index.py
	$(BIN)/python scripts/gen_fhir_definitions.py

ci: test lint typecheck

clean:
	rm -rf $(VENV) data .pytest_cache
