#!/usr/bin/env python3
"""Validates rendered manifests against the Kubernetes schemas, offline, and prints them as JSON.

    python3 deploy/helm/tests/inspect_manifests.py RENDERED.yaml

Every document is checked by kubernetes-validate (strict: unknown fields are errors) against
each Kubernetes version whose schemas the installed package bundles (1.25 and later). Prints
one JSON object on stdout:

    {"versions": ["1.25.0", ...], "errors": ["kind/name on 1.25.0: ..."],
     "unvalidated": ["ServiceMonitor/name"], "documents": [...every document...]}

`unvalidated` lists the documents of kinds with no bundled schema (custom resources such as
the Prometheus Operator's ServiceMonitor); the Rust test checks those itself. The
kubernetes-validate CLI exits 0 even when a resource fails, which is why this calls the
library. Exits 3 when kubernetes-validate (or PyYAML) is not installed.
"""

import json
import os
import re
import sys

try:
    import kubernetes_validate
    import yaml
except ImportError as e:  # the test prints a NOTE and skips the schema check
    print(f"missing: {e}", file=sys.stderr)
    sys.exit(3)


def bundled_versions():
    root = os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema")
    found = set()
    for name in os.listdir(root):
        m = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)-local-strict", name)
        if m and (int(m[1]), int(m[2])) >= (1, 25):
            found.add((int(m[1]), int(m[2]), int(m[3])))
    return [f"{a}.{b}.{c}" for a, b, c in sorted(found)]


def main(path):
    with open(path) as f:
        documents = [d for d in yaml.safe_load_all(f) if d]
    versions = bundled_versions()
    errors, unvalidated = [], []
    for doc in documents:
        what = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        for version in versions:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                unvalidated.append(what)
                break
            except kubernetes_validate.ValidationError as e:
                errors.append(f"{what} on {version}: {e.message} at {list(e.path)}")
    json.dump(
        {"versions": versions, "errors": errors, "unvalidated": unvalidated, "documents": documents},
        sys.stdout,
    )


if __name__ == "__main__":
    main(sys.argv[1])
