#!/usr/bin/env bash
# tools/setup-bench.sh: what bench/run.py needs beyond tools/setup.sh: the Python baselines and
# matplotlib (requirements-bench.txt, into .venv) and CAF for the native scenario (Debian's
# libcaf-dev). Idempotent and non-interactive; run tools/setup.sh first (it makes .venv).
# SPDX-License-Identifier: Apache-2.0
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
apt_install() {  # the package lists may be stale or absent on a fresh machine: refresh once
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "$@" || {
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "$@"
  }
}

apt_packages=(libcaf-dev libssl3 valgrind linux-perf)  # valgrind: bench/instructions.py; linux-perf: bench/clock_profile.py
missing=()
for p in "${apt_packages[@]}"; do
  [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup-bench: installing Debian packages: ${missing[*]}"
  apt_install "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup-bench: no .venv: run tools/setup.sh first" >&2
  exit 1
fi
stamp=.venv/.bench-requirements-stamp
if [ ! -f "$stamp" ] || [ requirements-bench.txt -nt "$stamp" ]; then
  echo "setup-bench: installing requirements-bench.txt"
  .venv/bin/python -m pip install -q -r requirements-bench.txt
  touch "$stamp"
fi

# ceylonai-next 0.3.6's Linux wheel is tagged manylinux_2_34, but the libcrypto it bundles was
# built against glibc 2.38 (it calls __isoc23_strtol), so on Debian 12 (glibc 2.36) the module
# does not import. Its mesh never calls OpenSSL (only its LLM and Redis clients do): point the
# bundled file at Debian's libcrypto.so.3, the same OpenSSL 3.0 ABI. Only when import fails so.
if ! err=$(.venv/bin/python -c "import ceylonai_next" 2>&1) && [[ $err == *GLIBC_2.38* ]]; then
  libs="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')/ceylonai_next.libs"
  # awk reads to the end: stopping at the first match would SIGPIPE ldconfig (pipefail).
  system_crypto=$(/sbin/ldconfig -p | awk '/libcrypto\.so\.3 / && !found {print $NF; found = 1}')
  for bundled in "$libs"/libcrypto-*.so.3; do
    echo "setup-bench: ceylonai-next: using $system_crypto for $(basename "$bundled") (glibc 2.38 build)"
    ln -sf "$system_crypto" "$bundled"
  done
  .venv/bin/python -c "import ceylonai_next" ||
    echo "setup-bench: ceylonai-next still does not import; its rows will say why" >&2
fi
echo "setup-bench: ready (python bench/run.py [--quick])"
