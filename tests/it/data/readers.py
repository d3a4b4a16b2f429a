"""Independent readers for airlock's OCI tests (tests/it/oci.rs), run with a Python that has
modelpack-client 0.1.0 and jsonschema (tests/it/support/registry.rs makes one).

Each subcommand prints one JSON object and exits 0, also when the reader refuses the artifact
({"ok": false, "error": "..."}): the Rust test decides which outcome is expected.

  modelpack-pull HOST/REPO:TAG OUTDIR  the strict ModelPack reader: checks every blob's size and
                                       digest, the diffIds, the config against model-spec's
                                       schema, and refuses unknown layer types; extracts files
  schema CONFIG_FILE SCHEMA...         jsonschema validation of a config, date-time checked
"""
import json
import os
import re
import sys


def out(**kw):
    print(json.dumps(kw, sort_keys=True))
    sys.exit(0)


def rel_files(root):
    found = []
    for dirpath, _, names in os.walk(root):
        for n in names:
            found.append(os.path.relpath(os.path.join(dirpath, n), root))
    return sorted(found)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "modelpack-pull":
        from modelpack_client import ModelPackClient
        ref, outdir = args
        client = ModelPackClient(hostname=ref.split("/")[0], insecure=True)
        try:
            client.pull(ref, outdir)
        except Exception as e:  # the outcome under test
            out(ok=False, error=f"{type(e).__name__}: {e}")
        out(ok=True, files=rel_files(outdir))
    if cmd == "schema":
        import jsonschema
        config_file, schemas = args[0], args[1:]
        with open(config_file) as f:
            config = json.load(f)
        checker = jsonschema.FormatChecker(formats=())
        rfc3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")

        @checker.checks("date-time")
        def _date_time(v):
            return not isinstance(v, str) or rfc3339.fullmatch(v) is not None

        results = {}
        for s in schemas:
            with open(s) as f:
                schema = json.load(f)
            validator = jsonschema.validators.validator_for(schema)
            errors = [e.message for e in validator(schema, format_checker=checker).iter_errors(config)]
            results[os.path.basename(s)] = errors
        out(ok=all(not e for e in results.values()), results=results)
    out(ok=False, error=f"unknown subcommand {cmd}")


main()
