#!/usr/bin/python3
"""Validate spoold's files against OpenAI's published Batch schemas.

    validate.py output-strict FILE.jsonl   every line (output or errors)
    validate.py batch-nullable status.json one batch object

Uses Debian's python3-jsonschema and tests/data/openai-batch.schema.json.
Prints 'N lines valid' / 'object valid' and exits 0, or names the first
bad line and exits 1.
"""
import json
import os
import sys

import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
PROFILES = {"output-strict": "BatchRequestOutputStrict",
            "input-strict": "BatchRequestInputStrict",
            "batch-nullable": "BatchNullable"}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in PROFILES:
        print(__doc__, file=sys.stderr)
        return 2
    with open(os.path.join(HERE, "data", "openai-batch.schema.json")) as f:
        schema = json.load(f)
    sub = dict(schema)
    sub["$ref"] = "#/$defs/" + PROFILES[sys.argv[1]]
    cls = jsonschema.validators.validator_for(schema)
    v = cls(sub)
    path = sys.argv[2]
    if sys.argv[1] == "batch-nullable":
        with open(path) as f:
            obj = json.load(f)
        errs = sorted(v.iter_errors(obj), key=str)
        if errs:
            print("object invalid: %s" % errs[0].message)
            return 1
        print("object valid")
        return 0
    seen = set()
    n = 0
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                print("line %d invalid: blank line" % n)
                return 1
            obj = json.loads(line)
            errs = list(v.iter_errors(obj))
            if errs:
                print("line %d invalid: %s" % (n, errs[0].message))
                return 1
            cid = obj.get("custom_id")
            if cid in seen:
                print("line %d invalid: repeated custom_id %s" % (n, cid))
                return 1
            seen.add(cid)
    print("%d lines valid" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
