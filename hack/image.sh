#!/usr/bin/env bash
# Builds Herald's container image as an archive, without a container engine (none runs on
# these machines): a static herald binary for linux/amd64 in one layer, tagged as the chart
# expects (ghcr.io/heraldlb/herald:<appVersion>). Load it where your nodes pull from:
#
#   hack/image.sh                                   writes bin/herald-image.tar
#   docker load -i bin/herald-image.tar             or: podman load -i ...
#   ctr -n k8s.io images import bin/herald-image.tar   (on each node, containerd)
#   kind load image-archive bin/herald-image.tar
#
# IMAGE_OUT, IMAGE_REPOSITORY and IMAGE_TAG override the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/lib.sh
command -v go >/dev/null || die "Go is required"

version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' deploy/helm/herald/Chart.yaml)
[ -n "$version" ] || die "no appVersion in deploy/helm/herald/Chart.yaml"
repo=${IMAGE_REPOSITORY:-ghcr.io/heraldlb/herald}
tag=${IMAGE_TAG:-$version}
out=${IMAGE_OUT:-bin/herald-image.tar}
bin=bin/linux-amd64/herald

say "building a static herald $version for linux/amd64"
mkdir -p "$(dirname "$bin")" "$(dirname "$out")"
CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags "-s -w -X github.com/heraldlb/herald/internal/cli.Version=$version" -o "$bin" ./cmd/herald
say "writing the image $repo:$tag to $out"
abs() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
bin=$(abs "$bin") out=$(abs "$out")
(cd hack/image && go run . -binary "$bin" -tag "$repo:$tag" -version "$version" -o "$out")
