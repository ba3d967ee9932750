# PathReasoner Platform — `make demo` and `make test` do all the set-up themselves.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export MLFLOW_ENABLE_TELEMETRY := false
export DO_NOT_TRACK := 1

.PHONY: setup demo test test-fast lint compile repro push-data pull-data clean mlflow-ui lock base-image images push

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: setup            ## the whole job on the embedded default, ending in a served answer
	$(VENV)/bin/pathreasoner demo

test: setup            ## the test suite
	$(VENV)/bin/pytest -q

test-fast: setup       ## skip the slow (pipeline / training) tests
	$(VENV)/bin/pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check pathreasoner components pipelines tests benchmarks

compile: setup         ## KFP IR YAML of the whole pipeline (work/pathreasoner_pipeline.yaml)
	$(VENV)/bin/pathreasoner pipeline compile

repro: setup           ## the same stages through DVC
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/dvc repro

push-data: setup       ## check the DVC remote, then push DVC-tracked outputs (make repro) to S3 (docs/data-versioning.md)
	$(PY) -m pathreasoner.data_version
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/dvc push

pull-data: setup       ## fetch DVC-tracked data on a fresh clone (dvc pull)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/dvc pull

mlflow-ui: setup       ## browse runs and the model registry of the local store
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///work/mlflow/mlflow.db --host 127.0.0.1 --port 5000

lock: setup            ## docker/constraints*.txt: the image builds' pins, from the venv's resolved versions
	$(PY) docker/lock.py

base-image:            ## localhost/debian-python:bookworm via debootstrap (machines without a registry)
	docker/build-base.sh

images:                ## the pipeline, trainer and serving images (docker or podman; docs/images.md)
	docker/build-images.sh

push:                  ## push them (REGISTRY=... TAG=... to retarget)
	docker/build-images.sh push

clean:
	rm -rf work local_outputs
