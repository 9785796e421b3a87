#!/usr/bin/env python3
"""Check Layouts/layout.schema.json against the example layouts and the invalid fixtures.

Run from the repository root:  python3 tools/check_schema.py

- the schema must be a valid JSON Schema (draft 2020-12);
- every Layouts/*.json other than the schema, and every fixture in
  Tests/TesseraLayoutTests/Fixtures/warnings/ (valid, only warned about), must validate against it;
- every Tests/TesseraLayoutTests/Fixtures/schema-invalid/*.json must be rejected by it.

Prints one line per file, then "N passed, M failed"; exits 1 on any failure.
Only what the schema can express is checked here; the semantic rules (overlaps, zones on
outputs, unique ids, existing presets, ...) are `tessera validate`'s job.
"""

import json
import sys
from pathlib import Path

try:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError, best_match
except ImportError:
    print("error: the jsonschema package is required (pip install jsonschema)", file=sys.stderr)
    sys.exit(2)

SCHEMA = Path("Layouts/layout.schema.json")
LAYOUTS = Path("Layouts")
INVALID = Path("Tests/TesseraLayoutTests/Fixtures/schema-invalid")
# Valid layouts that `tessera validate` only warns about: the schema must accept them.
WARNINGS = Path("Tests/TesseraLayoutTests/Fixtures/warnings")


def json_path(error):
    """The instance path as docs/layouts.md writes it: presets[2].zones[0].rect.width."""
    text = ""
    for part in error.absolute_path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text or "(root)"


def describe(error):
    return f"{json_path(error)}: {error.message}"


def load(path):
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def main():
    passed = failed = 0

    def ok(line):
        nonlocal passed
        passed += 1
        print(line)

    def fail(line):
        nonlocal failed
        failed += 1
        print(line)

    if not SCHEMA.is_file():
        print(f"error: {SCHEMA} not found; run from the repository root", file=sys.stderr)
        return 2

    try:
        schema = load(SCHEMA)
        Draft202012Validator.check_schema(schema)
    except (ValueError, SchemaError) as e:
        fail(f"FAIL {SCHEMA}: not a valid 2020-12 schema: {getattr(e, 'message', e)}")
        print(f"{passed} passed, {failed} failed")
        return 1
    ok(f"ok {SCHEMA} (valid JSON Schema 2020-12)")
    validator = Draft202012Validator(schema)

    layouts = sorted(p for p in LAYOUTS.glob("*.json") if p.resolve() != SCHEMA.resolve()) + sorted(WARNINGS.glob("*.json"))
    if not layouts:
        fail(f"FAIL {LAYOUTS}: no example layouts found")
    for path in layouts:
        try:
            instance = load(path)
        except ValueError as e:
            fail(f"FAIL {path}: not JSON: {e}")
            continue
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        if errors:
            fail(f"FAIL {path}: {len(errors)} error(s); first: {describe(best_match(errors))}")
        else:
            ok(f"ok {path}")

    fixtures = sorted(INVALID.glob("*.json"))
    if not fixtures:
        fail(f"FAIL {INVALID}: no invalid fixtures found")
    for path in fixtures:
        try:
            instance = load(path)
        except ValueError as e:
            # The fixtures are meant to be well-formed JSON that only the schema rejects.
            fail(f"FAIL {path}: not JSON (fixtures must be schema errors, not syntax errors): {e}")
            continue
        errors = list(validator.iter_errors(instance))
        # Report the most specific error: the one with the deepest path.
        error = max(errors, key=lambda e: len(e.absolute_path)) if errors else None
        if error is None:
            fail(f"FAIL {path}: accepted, but it should be rejected")
        else:
            ok(f"rejected as expected {path}: {describe(error)}")

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
