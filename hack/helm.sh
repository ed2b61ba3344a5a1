#!/usr/bin/env bash
# Builds helm from its Go module (no prebuilt binaries can be downloaded here) and caches it
# outside the repo, so only the first run pays (~2 minutes on 2 cores). Prints its path. The
# chart tests use it for `helm lint` and `helm template`.
#
#   hack/helm.sh                    build if missing, print the path
#   HELM_VERSION=v3.19.0 hack/helm.sh
set -euo pipefail

HELM_VERSION=${HELM_VERSION:-v3.19.0}
CACHE=${HERALD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/herald}
BIN="$CACHE/helm/$HELM_VERSION"
command -v go >/dev/null || { echo "helm.sh: Go is required" >&2; exit 1; }
if [ ! -x "$BIN/helm" ]; then
  echo "helm.sh: building helm $HELM_VERSION from Go modules (first time only, ~2 minutes)" >&2
  mkdir -p "$BIN"
  # Outside any module, so helm's own dependency versions apply, not Herald's.
  (cd "$BIN" && GOBIN="$BIN" GOFLAGS=-mod=mod GO111MODULE=on go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION") >&2
fi
"$BIN/helm" version --short >/dev/null || { echo "helm.sh: $BIN/helm does not run" >&2; exit 1; }
echo "$BIN/helm"
