#!/usr/bin/env bash
# The homelab in a box (make lab / lab-status / lab-down): installs what is missing (FRR,
# iproute2, arping from apt; kube-apiserver and etcd built from Go modules and cached, several
# minutes the first time), builds herald into bin/, and runs `herald lab`.
#
#   sudo hack/lab.sh up | status | down        (LAB_DIR, LAB_NAME choose another lab)
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib.sh

LAB_DIR=${LAB_DIR:-/run/herald-lab}
LAB_NAME=${LAB_NAME:-hlab}
cmd=${1:-up}
command -v go >/dev/null || die "Go is required (https://go.dev/dl); nothing else needs to be installed by hand"
[ "$(id -u)" -eq 0 ] || die "the lab creates network namespaces: run it as root (sudo make lab)"

build() {
  say "building herald (bin/herald)"
  go build -o bin/herald ./cmd/herald
}

case "$cmd" in
  up)
    require_lab_tools
    say "kube-apiserver and etcd for the lab's control plane"
    assets=$(./hack/kube-testenv.sh)
    build
    say "starting the lab $LAB_NAME in $LAB_DIR"
    exec bin/herald lab up --dir "$LAB_DIR" --name "$LAB_NAME" --kube-assets "$assets"
    ;;
  status|down)
    [ -x bin/herald ] || build
    exec bin/herald lab "$cmd" --dir "$LAB_DIR"
    ;;
  *)
    die "usage: $0 up|status|down"
    ;;
esac
