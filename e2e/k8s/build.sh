#!/usr/bin/env bash
# Builds the test bed's Kubernetes binaries into a cache outside the repository:
#   ${FLASHGUARD_CACHE:-$HOME/.cache/flashguard}/k8s-<version>/bin/
#     etcd kube-apiserver kube-controller-manager kubectl helm
# A stamp written only after a fully successful build makes the next run a no-op.
# The first run on a fresh machine compiles Kubernetes from the Go module proxy (minutes);
# set FLASHGUARD_REBUILD=1 to force a rebuild.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

log() { printf '%s cluster:build %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

cache_root="${FLASHGUARD_CACHE:-$HOME/.cache/flashguard}"
dir="$cache_root/k8s-${K8S_VERSION}"
bin="$dir/bin"
stamp="$dir/.complete"
binaries=(etcd kube-apiserver kube-controller-manager kubectl helm)
# The stamp names everything that decides the binaries' content, so a change to the pins
# (or to go.sum) rebuilds instead of silently reusing stale binaries.
want_stamp="k8s=${K8S_VERSION} helm=${HELM_VERSION} gosum=$(sha256sum "$here/go.sum" | cut -c1-16)"

is_complete() {
  [[ -f "$stamp" && "$(cat "$stamp")" == "$want_stamp" ]] || return 1
  local b
  for b in "${binaries[@]}"; do [[ -x "$bin/$b" ]] || return 1; done
}

if [[ "${FLASHGUARD_REBUILD:-}" != 1 ]] && is_complete; then
  log "up to date: $bin"
  exit 0
fi

# Go: the machine's own toolchain (Debian's golang-go is far too old for Kubernetes).
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
  export PATH="/usr/local/go/bin:$PATH"
fi
command -v go >/dev/null ||
  die "Go is not installed. Install Go >= $(sed -n 's/^go //p' "$here/go.mod") from https://go.dev/dl/ (Debian's golang-go is too old)."
go_have=$(go env GOVERSION | sed 's/^go//')
go_need=$(sed -n 's/^go //p' "$here/go.mod")
if [[ "$(printf '%s\n%s\n' "$go_need" "$go_have" | sort -V | head -1)" != "$go_need" ]]; then
  die "Go $go_have is too old: Kubernetes ${K8S_VERSION} needs Go >= $go_need."
fi
# Never download a different toolchain behind the developer's back.
export GOTOOLCHAIN=local

mkdir -p "$dir"
# Two concurrent builds (two terminals, parallel test files) would race on bin.tmp.
exec 9>"$dir/.lock"
if ! flock -n 9; then
  log "another build holds $dir/.lock; waiting"
  flock 9
fi
if [[ "${FLASHGUARD_REBUILD:-}" != 1 ]] && is_complete; then
  log "up to date (built by the other process): $bin"
  exit 0
fi

rm -f "$stamp"
tmp="$dir/bin.tmp"
rm -rf "$tmp"
mkdir -p "$tmp"
build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
minor=${K8S_VERSION#v1.}
minor=${minor%%.*}

# What hack/lib/version.sh sets, so /version and `kubectl version` tell the truth.
# gitTreeState=archive is what Kubernetes reports for builds from a source archive
# (no git checkout); the release commit is not in the module, so gitCommit stays empty.
k8s_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=${K8S_VERSION}"
  k8s_ldflags+=" -X $pkg.gitMajor=1 -X $pkg.gitMinor=${minor}"
  k8s_ldflags+=" -X $pkg.gitTreeState=archive -X $pkg.buildDate=${build_date}"
done

export CGO_ENABLED=0
start=$SECONDS
log "building etcd, kube-apiserver, kube-controller-manager, kubectl at ${K8S_VERSION} (go $go_have, $(nproc) cores)"
(cd "$here" && go build -trimpath -ldflags "$k8s_ldflags" -o "$tmp/" \
  ./etcd \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kubectl)
log "kubernetes binaries built in $((SECONDS - start)) s"

# helm: `go install pkg@version` builds in helm's own module, with the ldflags of helm's
# Makefile (its default Kubernetes version comes from the client-go it is built with).
helm_start=$SECONDS
helm_mod=$(cd "$tmp" && go mod download -json "helm.sh/helm/v3@${HELM_VERSION}" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
helm_k8s=$(awk '$1 == "k8s.io/client-go" { print $2; exit }' "$helm_mod")
helm_k8s_minor=$(cut -d. -f2 <<<"$helm_k8s")
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
helm_ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=archive"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=${helm_k8s_minor}"
done
log "building helm ${HELM_VERSION}"
(cd "$tmp" && GOBIN="$tmp" GOFLAGS= go install -trimpath -ldflags "$helm_ldflags" \
  "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}")
log "helm built in $((SECONDS - helm_start)) s"

for b in "${binaries[@]}"; do [[ -x "$tmp/$b" ]] || die "missing $b after build"; done
rm -rf "$bin"
mv "$tmp" "$bin"
echo "$want_stamp" > "$stamp"
log "done in $((SECONDS - start)) s: $bin"
"$bin/kubectl" version --client 2>&1 | sed 's/^/  /' >&2
"$bin/helm" version --short 2>&1 | sed 's/^/  /' >&2
