# Shared by hack/test.sh and hack/lab.sh: progress lines, failing loudly, and installing
# Debian packages that are missing (idempotent; apt's index is refreshed once per boot).

# sudo resets PATH (secure_path), which leaves out Go's default /usr/local/go/bin.
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then PATH=$PATH:/usr/local/go/bin; fi

say() { printf '\n== %s\n' "$*"; }
die() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

# ensure_apt PKG... installs the Debian packages that are missing (needs root).
ensure_apt() {
  local missing=()
  for p in "$@"; do [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})"
  say "installing ${missing[*]} (apt)"
  if [ ! -f /tmp/.herald-apt-updated ]; then apt-get update -qq && touch /tmp/.herald-apt-updated; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The lab and the namespace tests: FRR in network namespaces, arping from them.
LAB_PACKAGES=(frr iproute2 iputils-arping)

require_lab_tools() {
  ensure_apt "${LAB_PACKAGES[@]}"
  for f in /usr/lib/frr/bgpd /usr/lib/frr/zebra /usr/lib/frr/bfdd /usr/bin/vtysh /usr/bin/arping; do
    [ -x "$f" ] || die "$f is missing after installing ${LAB_PACKAGES[*]}"
  done
}
