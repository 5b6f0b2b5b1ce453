# mtshield — set-up, build and test entry points.
#   make run    install what is missing, build release, create run/mtproxy.yaml, start the proxy
#   make test   install what is missing, build, run `swift test` and the end-to-end suite

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(PATH):/opt/swift/usr/bin

SWIFT ?= swift
VENV ?= .venv
RUN_DIR ?= run
PORT ?= 8443
STATS ?= 127.0.0.1:3001

APT_BUILD := libssl-dev zlib1g-dev liblz4-dev
APT_TEST := $(APT_BUILD) lz4 nftables iproute2 python3-venv

.PHONY: all deps test-deps venv build build-tests release run test swift-test e2e e2e-peer clean distclean

all: build

deps:
	@scripts/install-deps.sh $(APT_BUILD)

test-deps:
	@scripts/install-deps.sh $(APT_TEST)

venv: test-deps
	@scripts/make-venv.sh $(VENV) requirements-test.txt

build: deps
	$(SWIFT) build

build-tests: deps
	$(SWIFT) build --build-tests

release: deps
	$(SWIFT) build -c release

run: release
	@scripts/run-proxy.sh "$$($(SWIFT) build -c release --show-bin-path)/mtproxy" $(RUN_DIR) $(PORT) $(STATS)

swift-test: build-tests
	$(SWIFT) test --skip-build

e2e: venv build
	MTPROXY_BIN="$$($(SWIFT) build --show-bin-path)/mtproxy" \
	MTAUDITOR_BIN="$$($(SWIFT) build --show-bin-path)/mtauditor" \
	    $(VENV)/bin/python -m pytest tests/e2e

# The end-to-end harness against alexbers' mtprotoproxy (PyPI), to check the harness itself.
e2e-peer: venv
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-input -r requirements-peer.txt
	E2E_PROXY=alexbers $(VENV)/bin/python -m pytest tests/e2e

# Both suites run even when the first fails; the target fails if either did.
test: venv build-tests
	@status=0; \
	$(SWIFT) test --skip-build || status=1; \
	MTPROXY_BIN="$$($(SWIFT) build --show-bin-path)/mtproxy" \
	MTAUDITOR_BIN="$$($(SWIFT) build --show-bin-path)/mtauditor" \
	    $(VENV)/bin/python -m pytest tests/e2e || status=1; \
	if [[ $$status -ne 0 ]]; then echo "make test: FAILED" >&2; fi; \
	exit $$status

clean:
	$(SWIFT) package clean
	rm -rf .pytest_cache tests/e2e/__pycache__

distclean: clean
	rm -rf .build $(VENV)

# The relay benchmark, not part of `make test`: mtproxy beside nginx and mtprotoproxy
# (Benchmarks/README.md). Installs what it needs, builds release, about 2-3 minutes of load.
.PHONY: bench
bench: deps
	Benchmarks/run.sh
