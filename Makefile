# reel: two commands. `make demo` renders the bundled demo, `make test` runs every check.
# Both install what is missing first (Debian packages: FFmpeg -dev libraries, clang for
# bindgen, pkg-config; the ffmpeg/ffprobe programs the tests use as independent judges;
# moto from PyPI, the S3-compatible server the asset tests start; PostgreSQL, whose
# throwaway clusters the service tests start).

SHELL := /bin/bash
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEB_PACKAGES := libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev \
	libclang-dev clang pkg-config ffmpeg libharfbuzz-bin chromium python3 python3-pip postgresql
CARGO ?= cargo

.PHONY: deps demo install test lint unit bench fmt clean

deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs)"; exit 1; }
	@# The S3-compatible server the asset tests start (moto's server mode, with boto3 to upload).
	@python3 -c "import moto.server, boto3, flask" 2>/dev/null || { echo "installing moto[server]"; \
		python3 -m pip install --quiet 'moto[server]' || python3 -m pip install --quiet --break-system-packages 'moto[server]'; }

demo: deps
	$(CARGO) run --release -p reel-cli -- render fixtures/demo/demo.json -o out/demo.mp4

# The `reel` tool into ~/.cargo/bin (the same as `cargo install --path crates/reel-cli`).
install: deps
	$(CARGO) install --locked --path crates/reel-cli

# Formatting, lints (warnings are errors), then every test: unit, integration, doc.
test: deps lint unit

lint:
	@$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --lib -- -D warnings -D clippy::unwrap_used -D clippy::expect_used

# Every crate of the workspace: unit, integration and doc tests. The integration tests run
# the `reel` binary, which `cargo test` does not build for another package: build it first,
# with the tests (`--tests`), so it is built with the features the tests' dev-dependencies
# turn on and `cargo test` does not compile reel and its dependents a second time.
unit:
	$(CARGO) build --workspace --bins --tests
	$(CARGO) test --workspace

# The workload benchmark (W1-W3, ratios to the ffmpeg floor) and the per-stage criterion
# benches. W1/W3 media are generated on first use (imagemagick, sox, espeak-ng, ffmpeg).
bench: deps
	@for p in imagemagick sox libsox-fmt-mp3 espeak-ng fonts-dejavu-core; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; fi
	$(CARGO) build --release -p reel-cli
	$(CARGO) bench --bench workload
	$(CARGO) bench --bench stages

fmt:
	$(CARGO) fmt --all

clean:
	rm -rf out target
