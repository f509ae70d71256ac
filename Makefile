# zeroG's two commands:
#   make example   set up (virtualenv, build, install) and run the example on the embedded default
#   make test      set up and run every test: Rust (cargo test), Python (pytest), lints, stubs
# `make help` lists every target. Everything installs from crates.io and PyPI; nothing needs to
# be installed by hand first.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The engine builds and tests without Python (`cargo test`); only the bindings, behind the
# `python` feature, need an interpreter: the virtualenv's, for maturin and for clippy.
export PYO3_PYTHON := $(abspath $(PY))

.PHONY: help example test build dev venv beanstalkd browser rust-test py-test lint bench bench-beanstalk bench-fleet bench-steady bench-dashboard bench-http bench-peers clean
.DEFAULT_GOAL := help

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# What to install is listed once, in pyproject.toml: the runtime dependencies and the `dev`
# extra. They are read from it (tomllib) rather than found by building the package.
$(VENV)/.ready: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
		print("\n".join(p["dependencies"] + p["optional-dependencies"]["dev"]))' > $(VENV)/requirements-dev.txt
	$(PY) -m pip install -q -r $(VENV)/requirements-dev.txt
	touch $@

venv: $(VENV)/.ready ## make the virtualenv with the dependencies and development tools

# A release wheel, installed into the virtualenv like any user's install. Not --quiet: the first
# build runs for minutes, and cargo's progress lines show that it is working.
build: venv ## build the release wheel (target/dist/) and install it into the virtualenv
	@echo "building the release wheel: the first build compiles the Rust core and takes about 5 minutes"
	rm -rf target/dist
	$(PY) -m maturin build --release --out target/dist
	$(PY) -m pip install -q --force-reinstall --no-deps target/dist/*.whl

# While iterating: the extension built in place and the sources used from python/ (an editable
# install), with no wheel to pack and reinstall. `make build` (and CI) install the wheel.
dev: venv ## build into the virtualenv in place (maturin develop), for quick iteration
	VIRTUAL_ENV=$(abspath $(VENV)) $(PY) -m maturin develop --release --quiet

example: build ## run the example (examples/progress_demo.py) on the embedded default
	cd examples && ../$(PY) progress_demo.py

# The beanstalkd tests start their own servers on free loopback ports; they fail (never skip)
# without the binary, so install it from the OS packages when it is missing.
beanstalkd: ## install beanstalkd from the OS packages if it is missing
	command -v beanstalkd >/dev/null || (apt-get update -qq && apt-get install -y -qq beanstalkd)

# The dashboard's tests drive Debian's Chromium through its chromedriver; they fail (never skip)
# without them, so install both from the OS packages when either is missing.
browser: ## install chromium and chromium-driver from the OS packages if missing
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq chromium chromium-driver)

# The Couchbase tests need a cluster (ZEROG_TEST_COUCHBASE, see the README); without one cargo
# reports them ignored, with the reason on each, and pytest lists them skipped with theirs.
rust-test: venv beanstalkd ## run the Rust tests (cargo test)
	@[ -n "$$ZEROG_TEST_COUCHBASE" ] || echo "Couchbase tests ignored: ZEROG_TEST_COUCHBASE names no cluster (README, Couchbase)"
	cargo test --quiet

lint: venv ## cargo fmt and clippy, ruff, mypy and stubtest
	cargo fmt --check
	cargo clippy --quiet --all-targets --features python -- -D warnings
	$(VENV)/bin/ruff check python tests examples bench
	$(VENV)/bin/ruff format --check python tests examples bench
	$(PY) -m mypy python/zeroG
	cd /tmp && $(abspath $(PY)) -m mypy.stubtest zeroG._zerog

py-test: build beanstalkd browser ## run the Python tests (pytest) against the release wheel
	$(PY) -m pytest -q tests

test: lint rust-test py-test ## every check: lints, Rust tests, Python tests (what CI runs)

bench: build ## the end-to-end benchmark on the embedded default (bench/run.py)
	$(PY) bench/run.py

bench-beanstalk: build beanstalkd ## the benchmark on beanstalkd (bench/beanstalk.py)
	$(PY) bench/beanstalk.py

bench-fleet: build beanstalkd ## what the control channel costs idle, and how fast it acts (bench/fleet.py)
	$(PY) bench/fleet.py

bench-steady: build beanstalkd ## one producer enqueueing while 2 workers run, against the raw floor (bench/steady.py)
	$(PY) bench/steady.py

bench-dashboard: build ## how fast the dashboard's overview answers with 1,000,000 jobs (bench/dashboard.py)
	$(PY) bench/dashboard.py

# The REST API under load from wrk (installed from the OS packages when missing).
bench-http: build ## the REST API under load from wrk (bench/rest.py)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) bench/rest.py

# Huey, Dramatiq, Celery and RQ, pinned, with the zeroG wheel: in a virtualenv of their own so that
# none of them reaches .venv. The stamp keeps a repeated run from installing them again; the wheel
# is installed on every run (it changes with every build): first with its dependencies, then
# forced, since its version number does not change between builds.
BENCH_VENV := .venv-bench
BENCH_PY   := $(BENCH_VENV)/bin/python
$(BENCH_VENV)/.ready: bench/requirements-peers.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install -q --upgrade pip
	$(BENCH_PY) -m pip install -q -r bench/requirements-peers.txt
	touch $@

# The peers' brokers are redis: bench/peers.py starts its own redis-server (installed from the OS
# packages when missing) and its own beanstalkd servers, on free loopback ports.
bench-peers: build beanstalkd $(BENCH_VENV)/.ready ## zeroG against Huey, Dramatiq, Celery, RQ and a raw floor (bench/peers.py)
	command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server)
	$(BENCH_PY) -m pip install -q target/dist/*.whl
	$(BENCH_PY) -m pip install -q --force-reinstall --no-deps target/dist/*.whl
	$(BENCH_PY) bench/peers.py

clean: ## remove the virtualenvs and the built wheels
	rm -rf $(VENV) $(BENCH_VENV) target/dist
