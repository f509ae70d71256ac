# zeroG's two commands:
#   make example   set up (virtualenv, build, install) and run the example on the embedded default
#   make test      set up and run every test: Rust (cargo test), Python (pytest), lints, stubs
# Everything installs from crates.io and PyPI; nothing needs to be installed by hand first.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The engine builds and tests without Python (`cargo test`); only the bindings, behind the
# `python` feature, need an interpreter: the virtualenv's, for maturin and for clippy.
export PYO3_PYTHON := $(abspath $(PY))

.PHONY: example test build venv beanstalkd rust-test py-test lint bench bench-beanstalk bench-http clean

$(VENV)/.ready: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "maturin>=1.9.4,<2" "pytest>=8" "ruff>=0.6" "mypy>=1.11" "marshmallow>=4,<5" "tornado>=6.4" "openapi-spec-validator>=0.7"
	touch $@

venv: $(VENV)/.ready

# A release wheel, installed into the virtualenv like any user's install.
build: venv
	rm -rf target/dist
	$(PY) -m maturin build --release --quiet --out target/dist
	$(PY) -m pip install -q --force-reinstall --no-deps target/dist/*.whl

example: build
	cd examples && ../$(PY) progress_demo.py

# The beanstalkd tests start their own servers on free loopback ports; they fail (never skip)
# without the binary, so install it from the OS packages when it is missing.
beanstalkd:
	command -v beanstalkd >/dev/null || (apt-get update -qq && apt-get install -y -qq beanstalkd)

# The Couchbase tests need a cluster (ZEROG_TEST_COUCHBASE, see the README); without one cargo
# reports them ignored, with the reason on each, and pytest lists them skipped with theirs.
rust-test: venv beanstalkd
	@[ -n "$$ZEROG_TEST_COUCHBASE" ] || echo "Couchbase tests ignored: ZEROG_TEST_COUCHBASE names no cluster (README, Couchbase)"
	cargo test --quiet

lint: venv
	cargo fmt --check
	cargo clippy --quiet --all-targets --features python -- -D warnings
	$(VENV)/bin/ruff check python tests examples bench
	$(VENV)/bin/ruff format --check python tests examples bench
	$(PY) -m mypy python/zeroG
	cd /tmp && $(abspath $(PY)) -m mypy.stubtest zeroG._zerog

py-test: build beanstalkd
	$(PY) -m pytest -q tests

test: lint rust-test py-test

bench: build
	$(PY) bench/run.py

bench-beanstalk: build beanstalkd
	$(PY) bench/beanstalk.py

# The REST API under load from wrk (installed from the OS packages when missing).
bench-http: build
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) bench/rest.py

clean:
	rm -rf $(VENV) target/dist
