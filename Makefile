# Two commands on a fresh clone:  make demo   (set up + run the pipeline on generated data)
#                                  make test   (set up + run the whole test suite)
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
ENV     ?= local
SET     ?=
SETARGS := $(foreach s,$(SET),--set $(s))

export SPARK_LOCAL_IP ?= 127.0.0.1
export MLFLOW_DISABLE_TELEMETRY ?= true
export PYARROW_IGNORE_TIMEZONE ?= 1

PLAN_WEEK ?= 2026-11-02   # the first Monday after generator.end_date (2026-10-31)

.PHONY: help check-java install demo test generate ingest silver gold models offers maintain clean-data mlflow-ui

help:
	@echo "make demo   - set up .venv, generate demo feeds, run the pipeline locally"
	@echo "make test   - set up .venv and run the test suite"
	@echo "make generate | ingest | silver | gold | models | offers - one stage of the demo pipeline"
	@echo "make maintain   - compact small files, checkpoint and vacuum every table (maintain_lake)"
	@echo "make mlflow-ui  - MLflow UI on the local store (http://127.0.0.1:5000)"
	@echo "make clean-data - delete ./data (landing, lake, truth, mlflow)"
	@echo "Options: ENV=local|cluster  SET='generator.members=200000 data_root=/big/disk'"

check-java:
	@command -v java >/dev/null 2>&1 || { \
	  echo "ERROR: Java is required to run Spark, but 'java' is not on PATH." >&2; \
	  echo "Install a JDK 17 (e.g. 'apt-get install openjdk-17-jre-headless') and run again." >&2; exit 1; }
	@java -version >/dev/null 2>&1 || { echo "ERROR: 'java -version' failed; fix the Java install (JDK 17)." >&2; exit 1; }

$(STAMP): setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: check-java $(STAMP)

demo: install
	./spark-submit.sh generate_feeds --env $(ENV) $(SETARGS)
	./spark-submit.sh ingest_bronze --env $(ENV) $(SETARGS)
	./spark-submit.sh build_silver --env $(ENV) $(SETARGS)
	./spark-submit.sh build_gold --env $(ENV) $(SETARGS) --snapshots 4
	./spark-submit.sh train_segments --env $(ENV) $(SETARGS)
	./spark-submit.sh score_segments --env $(ENV) $(SETARGS) --all
	$(PY) benchmarks/segments_vs_personas.py --env $(ENV) $(SETARGS)
	./spark-submit.sh train_recommender --env $(ENV) $(SETARGS)
	./spark-submit.sh recommend --env $(ENV) $(SETARGS)
	./spark-submit.sh build_cross_banner --env $(ENV) $(SETARGS)
	./spark-submit.sh train_offer_response --env $(ENV) $(SETARGS)
	./spark-submit.sh build_timing --env $(ENV) $(SETARGS)
	./spark-submit.sh plan_offers --env $(ENV) $(SETARGS) --week $(PLAN_WEEK)

generate: install
	./spark-submit.sh generate_feeds --env $(ENV) $(SETARGS)

ingest: install
	./spark-submit.sh ingest_bronze --env $(ENV) $(SETARGS)

silver: install
	./spark-submit.sh build_silver --env $(ENV) $(SETARGS)

gold: install
	./spark-submit.sh build_gold --env $(ENV) $(SETARGS) --snapshots 4

models: install
	./spark-submit.sh train_segments --env $(ENV) $(SETARGS)
	./spark-submit.sh score_segments --env $(ENV) $(SETARGS) --all
	./spark-submit.sh train_recommender --env $(ENV) $(SETARGS)
	./spark-submit.sh recommend --env $(ENV) $(SETARGS)
	./spark-submit.sh build_cross_banner --env $(ENV) $(SETARGS)

offers: install
	./spark-submit.sh train_offer_response --env $(ENV) $(SETARGS)
	./spark-submit.sh build_timing --env $(ENV) $(SETARGS)
	./spark-submit.sh plan_offers --env $(ENV) $(SETARGS) --week $(PLAN_WEEK)

maintain: install
	./spark-submit.sh maintain_lake --env $(ENV) $(SETARGS)

test: install
	$(PY) -m pytest -q tests

clean-data:
	rm -rf data

mlflow-ui: install
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/data/mlflow/mlflow.db --host 127.0.0.1 --port 5000
