#!/usr/bin/python3
"""Validates signaling messages against docs/signaling/*.schema.json.

stdin: one JSON object per line, {"sender": "wall"|"backend", "text": "<the message as sent>"}.
stdout: one line per message that does not conform: "<line number> <type>: <problem>"; then
"checked N messages, M invalid". Exit status 0 when all conform, 1 when one does not, 2 on bad input.
"""
import json
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

from signal_schema import Schemas


def main():
    schemas = Schemas()
    checked = invalid = 0
    for number, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            text, sender = item["text"], item.get("sender")
        except (ValueError, KeyError, TypeError) as e:
            print(f"{number}: not a {{sender, text}} line: {e}")
            return 2
        checked += 1
        problems = schemas.problems(text, sender)
        if problems:
            invalid += 1
            try:
                kind = json.loads(text).get("type")
            except (ValueError, AttributeError):
                kind = None
            for p in problems:
                print(f"{number} {kind}: {p}")
    print(f"checked {checked} messages, {invalid} invalid")
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main())
