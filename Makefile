# make run  - bootstrap, then the whole pipeline on the embedded broker, with visible output
# make test - bootstrap, lint, corpus check, test suite
# Both create .venv on first use and reuse it afterwards (idempotent).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
MODEL_DIR ?= models/artifacts/default
MODEL  := $(MODEL_DIR)/manifest.json
CORPUS := $(wildcard training/data/corpus/*.jsonl)

.PHONY: venv model run test lint check-data bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

model: $(MODEL)

$(MODEL): $(STAMP) $(CORPUS)
	$(BIN)/wirestream train --out $(MODEL_DIR)

check-data: $(STAMP)
	$(BIN)/wirestream data check training/data/corpus --words 60:250

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) $(MODEL) lint check-data
	$(BIN)/python -m pytest $(PYTEST_ARGS)

run: $(STAMP) $(MODEL)
	$(BIN)/wirestream demo

bench: $(STAMP) $(MODEL)
	$(BIN)/python -m bench.classify_speed
	$(BIN)/python -m bench.pipeline_throughput
	$(BIN)/python -m bench.model_selection

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache var

# -- deployment (docs/deploy.md) ------------------------------------------------------
# make image        build the container image with podman (debootstrap base, wheelhouse)
# make image-test   ... and run it against the embedded broker (needs root; ~1-3 min)
# make deploy-check hadolint, compose schema, kustomize + kubernetes-validate, CRD schemas
DEPLOY_STAMP := $(VENV)/.deploy-tools-stamp

.PHONY: image image-test deploy-check

image: $(STAMP)
	VENV=$(VENV) bash deploy/image-test.sh build

image-test: $(STAMP)
	VENV=$(VENV) bash deploy/image-test.sh test

$(DEPLOY_STAMP): deploy/requirements-deploy.txt $(STAMP)
	$(BIN)/python -m pip install --quiet -r deploy/requirements-deploy.txt
	@touch $(DEPLOY_STAMP)

deploy-check: $(DEPLOY_STAMP)
	$(BIN)/python deploy/validate.py
