#!/usr/bin/env bash
# Regenerates what is generated from api/v1alpha1: the deepcopy methods and the CRD manifests
# (deploy/helm/herald/crds), with controller-gen from the Go module proxy.
set -euo pipefail
cd "$(dirname "$0")/.."
CONTROLLER_TOOLS=${CONTROLLER_TOOLS:-v0.21.0}   # pairs with k8s.io/* v0.36
go run "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_TOOLS" \
  object paths=./api/... \
  crd:crdVersions=v1 output:crd:artifacts:config=deploy/helm/herald/crds paths=./api/...
gofmt -w api
