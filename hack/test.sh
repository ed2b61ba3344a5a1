#!/usr/bin/env bash
# Runs every Herald test: formatting and vet, unit tests (with the race detector), the fuzz
# targets for a few seconds each, the integration tests (standalone binary end to end, FRR
# interop in network namespaces, cluster mode on a real kube-apiserver, the seeds as scenarios
# in the lab), and last the README's run command. It installs what it needs on a Debian
# machine that has Go, idempotently, and says what it is doing. A missing dependency fails the
# run; nothing skips.
set -euo pipefail
cd "$(dirname "$0")/.."

source hack/lib.sh

command -v go >/dev/null || die "Go is required (https://go.dev/dl); nothing else needs to be installed by hand"

# The BGP interop and lab tests run FRR in network namespaces: they need root, frr and iproute2;
# the status page test drives Debian's headless chromium.
[ "$(id -u)" -eq 0 ] || die "the interop tests create network namespaces and need root (CI runs as root)"
require_lab_tools
ensure_apt chromium
[ -x /usr/bin/chromium ] || die "/usr/bin/chromium is missing after installing chromium"

# Cluster-mode tests run a real kube-apiserver and etcd, built from Go modules and cached
# outside the repo (the first build takes minutes; later runs reuse it).
say "kube-apiserver and etcd for the cluster-mode tests"
KUBEBUILDER_ASSETS=$(./hack/kube-testenv.sh)
export KUBEBUILDER_ASSETS
echo "using $KUBEBUILDER_ASSETS"

# The chart tests render deploy/helm/herald with a real helm, built from Go modules and cached.
say "helm for the chart tests"
HERALD_HELM=$(./hack/helm.sh)
export HERALD_HELM
echo "using $HERALD_HELM"

[ -z "${HERALD_TEST_SETUP_ONLY:-}" ] || exit 0

say "go $(go env GOVERSION): downloading modules"
go mod download

say "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
[ -z "$unformatted" ] || die "gofmt would change: $unformatted"

say "go vet"
go vet ./...

say "generated code and CRDs match api/v1alpha1"
./hack/generate.sh
if ! git diff --quiet -- api deploy 2>/dev/null; then
  git --no-pager diff --stat -- api deploy
  die "api/ or deploy/ is out of date: run hack/generate.sh and commit the result"
fi

# Screenshots and other test artifacts are kept in test/artifacts (or $HERALD_ARTIFACTS).
artifacts=${HERALD_ARTIFACTS:-$PWD/test/artifacts}
mkdir -p "$artifacts"
say "unit and integration tests (race detector on; artifacts in $artifacts)"
go test -race -count=1 -artifacts -outputdir "$artifacts" ./...

say "the container image (hack/image.sh, loaded back and its binary run)"
(cd hack/image && go vet ./... && go test -count=1 ./...)

# A count, not a duration: with a duration Go 1.26's fuzz coordinator can report its own
# deadline as a failure ("context deadline exceeded", no crasher; golang/go#75804, fixed in
# Go 1.27). 200,000 inputs is 5-10 s per target on the CI machines. Manifests (the fast YAML
# to JSON path against the general one, each input parsed twice) get a quarter of that count:
# 200,000 took 60-100 s.
fuzztime=${HERALD_FUZZTIME:-200000x}
manifestfuzz=${HERALD_FUZZTIME_MANIFEST:-50000x}
say "fuzzing the parsers of user input and of frames from the LAN ($fuzztime inputs each, manifests $manifestfuzz)"
for target in FuzzParseBlock FuzzParseRequest; do
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" ./internal/model/
done
go test -run '^$' -fuzz '^FuzzFastJSON$' -fuzztime "$manifestfuzz" ./internal/manifest/
go test -run '^$' -fuzz '^FuzzParse$' -fuzztime "$fuzztime" ./internal/l2/

# The README's run command on this machine, as a newcomer runs it, in a lab of its own (the
# default one may be in use): up, status, down, and nothing left behind.
say "the README's run command: hack/lab.sh up, status, down"
export LAB_DIR="$(mktemp -d)/lab" LAB_NAME=hlci
./hack/lab.sh up
./hack/lab.sh status >/dev/null
./hack/lab.sh down
left=$(ip netns list | grep -c "^$LAB_NAME-" || true)
[ "$left" -eq 0 ] || die "hack/lab.sh down left $left namespaces"

say "all tests passed"
