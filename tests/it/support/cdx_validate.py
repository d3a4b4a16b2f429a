#!/usr/bin/env python3
# Copied unchanged from /work/scratch/oms/cdx/validate.py (see /work/notes/cyclonedx.md).
"""validate.py FILE.json [FILE.json...] -- check CycloneDX 1.6 JSON BOMs.

Exit 0 if valid; 1 with every error printed (JSON path + message) if not;
2 on usage / unreadable / non-JSON input.

Schema check: cyclonedx-python-lib's JsonStrictValidator(SchemaVersion.V1_6)
(Draft-07 + format checks: date-time, iri-reference, ...).  For 1.6 the
"strict" validator uses the same schema file as the plain one (1.4+ schemas
already say additionalProperties: false).

The schema does NOT check three things a consumer relies on, so this script
checks them too: specVersion == "1.6" (the 1.6 schema accepts any string),
bom-ref uniqueness, and that dependencies[].ref / dependsOn point at
existing bom-refs.
"""

import json
import sys

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator


def json_path(err) -> str:
    p = "$"
    for part in err.absolute_path:
        p += f"[{part}]" if isinstance(part, int) else f".{part}"
    return p


def extra_checks(doc) -> list[str]:
    errs = []
    if not isinstance(doc, dict):
        return errs  # the schema already reports this
    if doc.get("specVersion") != "1.6":
        errs.append(f"$.specVersion: expected '1.6', got {doc.get('specVersion')!r}")
    refs: dict[str, int] = {}

    def walk(x):
        if isinstance(x, dict):
            r = x.get("bom-ref")
            if isinstance(r, str):
                refs[r] = refs.get(r, 0) + 1
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk({k: v for k, v in doc.items() if k != "dependencies"})
    errs += [f"bom-ref {r!r} is used {n} times" for r, n in refs.items() if n > 1]
    for i, dep in enumerate(doc.get("dependencies") or []):
        if not isinstance(dep, dict):
            continue
        for r in [dep.get("ref"), *(dep.get("dependsOn") or []), *(dep.get("provides") or [])]:
            if isinstance(r, str) and r not in refs:
                errs.append(f"$.dependencies[{i}]: {r!r} is not a bom-ref in this BOM")
    return errs


VALIDATOR = JsonStrictValidator(SchemaVersion.V1_6)  # schema is compiled on first use


def check(path: str) -> int:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        doc = json.loads(text)
    except (OSError, ValueError) as e:
        print(f"{path}: {e}", file=sys.stderr)
        return 2
    errors = VALIDATOR.validate_str(text, all_errors=True)  # None, or an iterable
    schema_errs = [f"{json_path(e.data)}: {e.data.message}" for e in (errors or [])]
    errs = schema_errs + extra_checks(doc)
    if errs:
        for e in errs:
            print(f"{path}: {e}")
        print(f"{path}: INVALID ({len(errs)} error(s))", file=sys.stderr)
        return 1
    print(f"{path}: valid CycloneDX 1.6")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    return max(check(p) for p in argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
