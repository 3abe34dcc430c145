#!/usr/bin/env bash
# Expands the DCAT-AP catalog of the demo server with an independent JSON-LD processor
# (pyld, PyPI) and checks the mandatory DCAT-AP 3 properties of the catalogue, every
# dataset and every distribution on the expanded RDF terms.
#
# Usage: tests/dcat/run.sh            (from the repository root; needs python3 and pip)
set -euo pipefail
cd "$(dirname "$0")/../.."

venv="${DCAT_VENV:-target/dcat-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'PyLD==2.0.4'
fi

port="${DCAT_PORT:-18091}"
# shellcheck source=../serve_demo.sh
source tests/serve_demo.sh "$port"

"$venv/bin/python" - "$port" <<'PY'
import json, sys, urllib.request
from pyld import jsonld

port = sys.argv[1]
with urllib.request.urlopen(f"http://127.0.0.1:{port}/catalog.jsonld") as r:
    doc = json.load(r)
# No document loader: the context is inline, and nothing may be fetched.
jsonld.set_document_loader(lambda url, options=None: (_ for _ in ()).throw(ValueError(f"fetched {url}")))
expanded = jsonld.expand(doc)
DCAT, DCT = "http://www.w3.org/ns/dcat#", "http://purl.org/dc/terms/"
failures = []
def need(node, iri, what):
    if not node.get(iri):
        failures.append(f"{what} lacks {iri}")
[catalog] = expanded
assert DCAT + "Catalog" in catalog["@type"], catalog["@type"]
for p in (DCT + "title", DCT + "description", DCT + "publisher", DCAT + "dataset"):
    need(catalog, p, "the catalogue")
datasets = catalog[DCAT + "dataset"]
for d in datasets:
    name = d[DCT + "identifier"][0]["@value"]
    assert DCAT + "Dataset" in d["@type"], name
    for p in (DCT + "title", DCT + "description", DCAT + "distribution", DCT + "publisher",
              DCAT + "contactPoint", DCAT + "theme", DCT + "spatial", DCT + "accrualPeriodicity"):
        need(d, p, name)
    for dist in d.get(DCAT + "distribution", []):
        need(dist, DCAT + "accessURL", f"a distribution of {name}")
passed = 1 + len(datasets) - len({f.split(' lacks')[0] for f in failures})
for f in failures:
    print("FAILED", f)
print(f"{passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
PY
