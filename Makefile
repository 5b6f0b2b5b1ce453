# mtshield — set-up, build and test entry points.
#   make run    install what is missing, build release, create run/mtproxy.yaml and
#               run/mtauditor.yaml, start the proxy and the auditor beside it
#   make test   install what is missing, build, run `swift test` and the end-to-end suite
# Day to day (README.md, "Deployment"): start stop restart reload status logs [N=50]
# monitor rotate backup restore [BACKUP=name] checklist.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(PATH):/opt/swift/usr/bin

SWIFT ?= swift
VENV ?= .venv
RUN_DIR ?= run
PORT ?= 8443
STATS ?= 127.0.0.1:3001
BACKUP_DIR ?= backups
# How many events `make logs` prints.
N ?= 20
# Binaries for the day-to-day targets; empty: the release build (built when missing).
MTPROXY ?=
MTFORENSICS ?=
RELEASE_BIN = $$($(SWIFT) build -c release --show-bin-path)
PROXY_BIN = $(if $(MTPROXY),$(MTPROXY),$(RELEASE_BIN)/mtproxy)
FORENSICS_BIN = $(if $(MTFORENSICS),$(MTFORENSICS),$(RELEASE_BIN)/mtforensics)
NEEDS_RELEASE = $(if $(MTPROXY),,release)
NEEDS_RELEASE_FORENSICS = $(if $(MTFORENSICS),,release)
# The auditor beside the proxy (scripts/auditorctl.sh): MTAUDITOR empty is the one beside
# the proxy's binary; AUDITOR=0 runs the proxy alone.
MTAUDITOR ?=
AUDITOR ?= 1
AUDITOR_METRICS ?= 127.0.0.1:3002
export MTAUDITOR AUDITOR AUDITOR_METRICS

APT_BUILD := libssl-dev zlib1g-dev liblz4-dev
APT_TEST := $(APT_BUILD) lz4 nftables iproute2 logrotate python3-venv

.PHONY: all deps test-deps venv build build-tests release run test swift-test e2e e2e-peer clean distclean
.PHONY: start stop restart reload status logs monitor rotate backup restore checklist

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

# As `make run`, in the background: the pid in RUN_DIR/mtproxy.pid, the log in RUN_DIR/mtproxy.log.
start: $(NEEDS_RELEASE)
	@DETACH=1 scripts/run-proxy.sh "$(PROXY_BIN)" $(RUN_DIR) $(PORT) $(STATS)

stop:
	@scripts/proxyctl.sh "$(PROXY_BIN)" $(RUN_DIR) stop

restart: $(NEEDS_RELEASE)
	@scripts/proxyctl.sh "$(PROXY_BIN)" $(RUN_DIR) stop
	@DETACH=1 scripts/run-proxy.sh "$(PROXY_BIN)" $(RUN_DIR) $(PORT) $(STATS)

# SIGHUP: re-read RUN_DIR/mtproxy.yaml (checked first).
reload:
	@scripts/proxyctl.sh "$(PROXY_BIN)" $(RUN_DIR) reload

status:
	@scripts/proxyctl.sh "$(PROXY_BIN)" $(RUN_DIR) status

logs: $(NEEDS_RELEASE)
	@scripts/proxyctl.sh "$(PROXY_BIN)" $(RUN_DIR) logs $(N)

monitor: $(NEEDS_RELEASE)
	@"$(PROXY_BIN)" monitor --config $(RUN_DIR)/mtproxy.yaml

# A new secret; the old one works for rotation.grace more (GRACE=2h to choose), then reload.
rotate: $(NEEDS_RELEASE)
	@"$(PROXY_BIN)" secret rotate --config $(RUN_DIR)/mtproxy.yaml $(if $(GRACE),--grace $(GRACE))
	@if scripts/proxyctl.sh "$(PROXY_BIN)" $(RUN_DIR) status >/dev/null; then scripts/proxyctl.sh "$(PROXY_BIN)" $(RUN_DIR) reload; fi

# BACKUP_DIR/mtshield-YYYYmmdd-HHMMSS.tar.lz4 (+ .sha256, latest): the configuration with its
# secrets, the blocklist, and the auditor's configuration and state when RUN_DIR/mtauditor.yaml exists.
backup: $(NEEDS_RELEASE_FORENSICS)
	@"$(FORENSICS_BIN)" backup --proxy-config $(RUN_DIR)/mtproxy.yaml \
	    $(if $(wildcard $(RUN_DIR)/mtauditor.yaml),--auditor-config $(RUN_DIR)/mtauditor.yaml) --out $(BACKUP_DIR)

# From BACKUP (a file name in BACKUP_DIR or a path), default BACKUP_DIR/latest; verified first.
restore: $(NEEDS_RELEASE_FORENSICS)
	@"$(FORENSICS_BIN)" restore $(BACKUP) --dir $(BACKUP_DIR)
	@if scripts/proxyctl.sh "$(PROXY_BIN)" $(RUN_DIR) status >/dev/null; then scripts/proxyctl.sh "$(PROXY_BIN)" $(RUN_DIR) reload; fi

# The security guide's checklist against this machine (`mtforensics check`): PASS, FAIL or
# UNKNOWN per item with its fix; exit 1 when an item failed, 2 when one could not be decided.
checklist: $(NEEDS_RELEASE_FORENSICS)
	@"$(FORENSICS_BIN)" check --proxy-config $(RUN_DIR)/mtproxy.yaml \
	    $(if $(wildcard $(RUN_DIR)/mtauditor.yaml),--auditor-config $(RUN_DIR)/mtauditor.yaml) --backups $(BACKUP_DIR)

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
