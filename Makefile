# Makefile: the commands developers and CI share. `make demo` and `make test` set up a fresh
# machine themselves (tools/setup.sh).
# SPDX-License-Identifier: Apache-2.0
.PHONY: setup demo test test-core test-asan test-tsan test-python setup-bench bench bench-quick clean

VENV := .venv/bin
CMAKE := $(VENV)/cmake
JOBS ?= 2

setup:
	tools/setup.sh

demo: setup
	$(VENV)/python examples/demo_coordinator.py

# Every test: the C++ core (plain, ASan+UBSan, TSan), the Python package with its examples, and
# the benchmark suite's smoke run (so its baselines are installed too).
test: setup setup-bench test-core test-asan test-tsan test-python

build/%/build.ninja:
	$(CMAKE) -S . -B build/$* -G Ninja -DCMAKE_MAKE_PROGRAM=$(abspath $(VENV)/ninja) \
	  -DSERENDIP_BUILD_TESTS=ON $(CMAKE_ARGS_$*)

CMAKE_ARGS_core := -DCMAKE_BUILD_TYPE=Release
CMAKE_ARGS_asan := -DCMAKE_BUILD_TYPE=Debug -DSERENDIP_SANITIZE=address,undefined
CMAKE_ARGS_tsan := -DCMAKE_BUILD_TYPE=Debug -DSERENDIP_SANITIZE=thread

test-core test-asan test-tsan: test-%: build/%/build.ninja
	$(CMAKE) --build build/$* -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  $(VENV)/ctest --test-dir build/$* --output-on-failure -j $(JOBS)

# pytest exits 5 when it collects nothing; make treats that as the failure it is.
test-python:
	$(VENV)/python -m pytest -q

# The benchmark suite (bench/run.py): the baselines and CAF come from tools/setup-bench.sh.
# `bench` measures (about 20 minutes, results in bench/results/); `bench-quick` is the smoke test.
setup-bench: setup
	tools/setup-bench.sh

bench: setup-bench
	$(VENV)/python bench/run.py

bench-quick: setup-bench
	$(VENV)/python bench/run.py --quick

clean:
	rm -rf build .venv
