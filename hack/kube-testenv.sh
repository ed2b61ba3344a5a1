#!/usr/bin/env bash
# Builds a real kube-apiserver and etcd from Go modules (no prebuilt binaries can be
# downloaded here; facts and costs in ../shared/KUBE-TESTENV-NOTES.md) and caches them outside
# the repo, so only the first run pays: ~7 minutes and ~2 GB of RAM for kube-apiserver, ~1.5
# minutes for etcd. Prints the directory holding both (KUBEBUILDER_ASSETS-compatible).
#
#   hack/kube-testenv.sh            build if missing, print the directory
#   KUBE_VERSION=v1.36.3 ETCD_VERSION=v3.6.16 hack/kube-testenv.sh
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.36.3}   # the proxy serves this one whole (v1.36.5's sum and v1.37.2's zip are refused)
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
CACHE=${HERALD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/herald}
BIN="$CACHE/kube/$KUBE_VERSION"
mkdir -p "$BIN"

say() { printf 'kube-testenv: %s\n' "$*" >&2; }
die() { printf 'kube-testenv: %s\n' "$*" >&2; exit 1; }
command -v go >/dev/null || die "Go is required"

staging_minor=${KUBE_VERSION#v1.}            # 36.3 -> the staging modules' v0.36.3
STAGING="v0.$staging_minor"
MAJOR=1
MINOR=${staging_minor%%.*}

build_apiserver() {
  if [ -x "$BIN/kube-apiserver" ] && "$BIN/kube-apiserver" --version 2>/dev/null | grep "$KUBE_VERSION" >/dev/null; then
    return
  fi
  say "building kube-apiserver $KUBE_VERSION (first time only: several minutes, ~2 GB RAM)"
  local w="$CACHE/kube/wrapper-apiserver-$KUBE_VERSION"
  mkdir -p "$w"
  cd "$w"
  [ -f go.mod ] || go mod init herald.local/kube-wrapper >/dev/null 2>&1
  go mod edit -require="k8s.io/kubernetes@$KUBE_VERSION"
  # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with local
  # directories; a consumer must replace each with the published version.
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  [ -f "$gomod" ] || die "cannot read k8s.io/kubernetes $KUBE_VERSION's go.mod"
  grep -E '^\s+k8s\.io/[a-z0-9-]+ v0\.0\.0(\s|$)' "$gomod" | awk '{print $1}' | while read -r m; do
    go mod edit -replace="$m=$m@$STAGING"
  done
  cat > tools.go <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
  go mod tidy >/dev/null 2>&1 || go mod tidy
  local ld="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$MAJOR -X $pkg.gitMinor=$MINOR"
  done
  CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$BIN/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  mv "$BIN/kube-apiserver.tmp" "$BIN/kube-apiserver"
}

build_etcd() {
  if [ -x "$BIN/etcd" ] && "$BIN/etcd" --version 2>/dev/null | grep "${ETCD_VERSION#v}" >/dev/null; then
    return
  fi
  say "building etcd $ETCD_VERSION (first time only: ~1.5 minutes)"
  local w="$CACHE/kube/wrapper-etcd-$ETCD_VERSION"
  mkdir -p "$w"
  cd "$w"
  [ -f go.mod ] || go mod init herald.local/etcd-wrapper >/dev/null 2>&1
  go mod edit -require="go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  cat > tools.go <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  go mod tidy >/dev/null 2>&1 || go mod tidy
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$BIN/etcd.tmp" "$BIN/etcd"
}

build_etcd
build_apiserver
"$BIN/kube-apiserver" --version >&2
"$BIN/etcd" --version | sed -n 1p >&2
echo "$BIN"
