# One command per task. `make install` once, then `make run` / `make test`.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

.PHONY: install install-runtime run test test-fast lint audit bench lock clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# llama.cpp for local mode, built once for any x86-64 with AVX2 (GGML_NATIVE=OFF) and kept in LLAMA_WHEELS. pip's
# own build uses -march=native: it compiled in whatever the build machine's CPU advertised, AMX on this kind of VM,
# where the first `ldtilecfg` faults (llama.cpp's server died on its first token). pip's wheel cache ignores
# CMAKE_ARGS, so the portable wheel lives in its own folder, named for its version and flags.
LLAMA_CPP_VERSION := 0.3.36
LLAMA_WHEELS ?= $(HOME)/.cache/chatlens/llama-cpp-python-$(LLAMA_CPP_VERSION)-avx2
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF

# Runtime packages at the locked versions (requirements.txt = the lock without hashes); dev tools on top.
install: $(PY)
	@echo "Installing ChatLens. The first time, llama-cpp-python (the local demo model's server) compiles"
	@echo "llama.cpp: about 8 minutes on 2 cores; later installs reuse the wheel kept in $(LLAMA_WHEELS)."
	@ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 $(PY) -m pip wheel --quiet --no-cache-dir \
		--no-deps llama-cpp-python==$(LLAMA_CPP_VERSION) -w $(LLAMA_WHEELS)
	$(PY) -m pip install --quiet --force-reinstall --no-deps --no-index --find-links $(LLAMA_WHEELS) \
		llama-cpp-python==$(LLAMA_CPP_VERSION)
	$(PY) -m pip install --quiet -c requirements.txt --find-links $(LLAMA_WHEELS) -e '.[dev,local]'
	@# The login tests' second provider (panva's oidc-provider) and the accessibility tests' axe-core, each pinned by
	@# its package-lock.json; needs node 20+.
	@if command -v npm >/dev/null 2>&1; then for dir in tests/support/oidc_provider tests/support/axe; do \
		(cd $$dir && npm ci --no-audit --no-fund --silent) || exit 1; done; \
	else echo "npm not found: install node 20+ and npm to run the oidc-provider and accessibility tests"; fi

# Only the runtime, at the locked versions: no dev tools, no llama.cpp (nothing compiles). For TGI/vLLM users.
install-runtime: $(PY)
	$(PY) -m pip install --quiet -c requirements.txt -e .

# Without TGI_URL/MODELS, local mode starts the small CPU demo model (set LOCAL_MODE=false to get the bare page).
run:
	LOCAL_MODE=$${LOCAL_MODE:-true} $(PY) app.py

# Everything (what CI runs): the in-process tests on both cores, then the ones that start Chromium, PostgreSQL or
# other processes, also on both cores but a whole file per worker (each worker has its own app, Chromium and
# PostgreSQL; the tier mostly waits on them: 229 tests took 850 s this way against 1,559 s one at a time, at load 7–9).
test:
	$(PY) -m pytest -n 2 -m "not browser and not postgres and not process"
	$(PY) -m pytest -n 2 --dist loadfile -m "browser or postgres or process"

# No Chromium, no PostgreSQL, no subprocess (tests/support/markers.py), on both cores, a tenth of the property
# examples: 95 s for 861 tests on an idle 2-core machine (commit ceeb6f2, 2026-12-04 19:02 UTC; 146 s on one core;
# the target is under a minute). `make test` took 10 min 43 s there (114 s + 518 s, commit 293419c, 20:03 UTC).
test-fast:
	CHATLENS_FAST_PROPERTIES=1 $(PY) -m pytest -n 2 -m "not browser and not postgres and not process"

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/deptry .

# The configuration reference (docs/configuration.md and .env.example), generated from settings.py.
.PHONY: docs
docs:
	$(PY) -m tools.settings_docs

# The locked pins against PyPI's advisories (what is and is not covered: tools/audit_lock.py). Fails on a finding.
audit:
	$(PY) -m tools.audit_lock requirements.lock

bench:
	$(PY) -m benchmarks.bench_turns
	$(PY) -m benchmarks.bench_writer
	$(PY) -m benchmarks.bench_stream
	$(PY) -m benchmarks.bench_local
	$(PY) -m benchmarks.bench_conversations --postgres
	$(PY) -m benchmarks.bench_analytics

# After changing dependencies in pyproject.toml: re-pin (add --upgrade to move the pins forward).
lock:
	$(VENV)/bin/uv pip compile pyproject.toml --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
		--only-binary :all: --generate-hashes --quiet -o requirements.lock
	$(VENV)/bin/uv pip compile requirements.lock --no-deps --no-annotate --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --only-binary :all: --quiet -o requirements.txt

clean:
	rm -rf $(VENV) bench-results .mypy_cache .ruff_cache
