# Netily. Each recipe is short: the work lives in scripts/ and cargo.
# `make run` brings up a local Netily, `make test` runs every test against
# real servers. See README.md.

SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
CARGO ?= cargo

.PHONY: help deps build run stop test lint bench bench-scale bench-enforcer bench-memory bench-web install

help:
	@echo "make run      install deps, build, start PostgreSQL, FreeRADIUS, OpenVPN, the enforcer and the web console with demo data"
	@echo "make stop     stop everything 'make run' started"
	@echo "make test     build and run all tests against a throwaway PostgreSQL"
	@echo "make chaos    the fault-injection suite under load (tests/tests/chaos_*.rs; minutes)"
	@echo "make soak     mixed auth + accounting + CoA + VPN at half of peak for SOAK_MINUTES (default 30): memory, fds, connections, p99 flat"
	@echo "make lint     cargo fmt --check and clippy -D warnings"
	@echo "make fuzz     fuzz every parser and renderer, FUZZ_SECONDS each (default 300; nightly + cargo-fuzz)"
	@echo "make fuzz-smoke  each fuzz target for a few seconds over the committed corpus (CI)"
	@echo "make bench    benchmarks (scripts/bench.sh)"
	@echo "make bench-scale  accounting with radacct at 20,000,000 rows vs empty; usage reports, dropping a month (~30 min)"
	@echo "make bench-enforcer  the enforcer: a plan change moving 10,000 of 100,000 online sessions; a deadline tick"
	@echo "make bench-memory  the subscriber snapshot's bytes per subscriber; radiusd's RSS, start and resync at 1,000,000"
	@echo "make bench-web  the console's pages and the API's lists at 1,000,000 subscribers (server time; goal < 100 ms)"
	@echo "make install  install netadmin, netily-web, the plugins, systemd units and /etc/netily/netily.conf"
	@echo "make deps     install system packages (apt-get) that are missing"
	@echo "make build    cargo build --release --workspace"

deps:
	scripts/install-deps.sh

build:
	$(CARGO) build --release --workspace

run: deps build
	scripts/run.sh start

stop:
	scripts/run.sh stop

test: deps
	scripts/test.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# cargo-fuzz targets (fuzz/): their own nightly build in fuzz/target.
.PHONY: fuzz fuzz-smoke
fuzz:
	scripts/fuzz.sh long

fuzz-smoke:
	scripts/fuzz.sh smoke

bench:
	@if [ -x scripts/bench.sh ]; then scripts/bench.sh; else echo "no benchmarks yet (scripts/bench.sh)"; fi

# radacct at 20,000,000 rows over 13 months against an empty one, usage
# reports and dropping a month (about half an hour).
bench-scale:
	scripts/bench-scale.sh

# The console's pages at 1,000,000 subscribers (the first run loads them:
# minutes; later runs reuse .run/bench-web).
bench-web: deps
	scripts/bench-web.sh

bench-enforcer: deps build
	NETILY_NETADMIN=$(CURDIR)/target/release/netadmin $(CARGO) run --release -p netily-bench --bin enforcer_bench

# The in-process figure first (seconds), then real radiusd (minutes).
bench-memory: deps build
	$(CARGO) run --release -q -p netily-bench --bin snapshot_memory
	NETILY_NETADMIN=$(CURDIR)/target/release/netadmin $(CARGO) run --release -q -p netily-bench --bin memory_bench

install: build
	scripts/install.sh

# Faults under load (tests/tests/chaos_*.rs): minutes, so not part of `make test`.
.PHONY: chaos
chaos: deps
	scripts/chaos.sh

# Half of peak for SOAK_MINUTES (default 30; tests/tests/soak.rs): not part of `make test`.
.PHONY: soak
soak: deps
	scripts/soak.sh
