# make run  - bootstrap, then the whole pipeline on the embedded broker, with visible output
# make test - bootstrap, lint, data checks, test suite
# Both create .venv on first use and reuse it afterwards (idempotent), make a
# local development key pair that signs the models (var/keys/, on first use)
# and train the first model into the registry (var/registry/) when there is none.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
DATA   ?= var
DEV_KEY := $(DATA)/keys/dev-signing
MODEL  := $(DATA)/registry/current.json
CORPUS := $(wildcard training/data/corpus/*.jsonl training/data/heldout-wire/*.jsonl)
MODEL_CODE := models/estimator.py models/persistence.py training/train.py
# The development key signs and verifies the models that make trains (a real
# deployment sets its own keys; see README "Models that cannot be swapped").
DEV_ENV := WIRESTREAM_DATA_DIR=$(abspath $(DATA)) \
	WIRESTREAM_MODEL_SIGNING_KEY=$(abspath $(DEV_KEY)).pem \
	WIRESTREAM_MODEL_PUBLIC_KEYS=$(abspath $(DEV_KEY)).pub

.PHONY: venv keys model run test lint check-data bench bench-record clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

keys: $(DEV_KEY).pem

$(DEV_KEY).pem: $(STAMP)
	$(BIN)/wirestream keys generate --out $(DEV_KEY) --if-missing

model: $(MODEL)

$(MODEL): $(STAMP) $(DEV_KEY).pem $(CORPUS) $(MODEL_CODE)
	$(DEV_ENV) $(BIN)/wirestream train --promote
	@touch $(MODEL)

check-data: $(STAMP)
	$(BIN)/wirestream data check training/data/corpus --words 60:460
	$(BIN)/wirestream data check training/data/heldout-wire --words 250:600

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) lint check-data deploy-check
	$(BIN)/python -m pytest $(PYTEST_ARGS)

run: $(STAMP) $(MODEL)
	$(DEV_ENV) $(BIN)/wirestream demo

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	@touch $(BENCH_STAMP)

# Results go to var/bench/ (untracked); bench-record also rewrites bench/results/.
bench: $(BENCH_STAMP) $(MODEL)
	$(DEV_ENV) $(BIN)/python -m bench.stream
	$(DEV_ENV) $(BIN)/python -m bench.model_selection
	$(DEV_ENV) $(BIN)/python -m bench.thresholds
	$(DEV_ENV) $(BIN)/python -m bench.console_queue

bench-record: $(BENCH_STAMP) $(MODEL)
	$(DEV_ENV) $(BIN)/python -m bench.stream --record
	$(DEV_ENV) $(BIN)/python -m bench.model_selection --record
	$(DEV_ENV) $(BIN)/python -m bench.thresholds --record

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
