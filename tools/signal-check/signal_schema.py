"""The JSON Schemas of docs/signaling/, loaded for jsonschema (Debian's python3-jsonschema 4.10:
RefResolver with a store, so nothing is fetched over the network)."""
import json
import pathlib

import jsonschema

SCHEMA_DIR = pathlib.Path(__file__).resolve().parent.parent.parent / "docs" / "signaling"


class Schemas:
    def __init__(self, directory=SCHEMA_DIR):
        self.store = {}
        for path in sorted(pathlib.Path(directory).glob("*.schema.json")):
            schema = json.loads(path.read_text())
            jsonschema.Draft202012Validator.check_schema(schema)
            self.store[schema["$id"]] = schema
        envelope = next(s for s in self.store.values() if s["$id"].endswith("/envelope.schema.json"))
        self.senders = envelope["x-senders"]
        resolver = jsonschema.RefResolver(envelope["$id"], envelope, store=self.store)
        self.validator = jsonschema.Draft202012Validator(envelope, resolver=resolver)

    def problems(self, text, sender=None):
        """What is wrong with one message as sent by `sender` ("wall", "backend" or None): a list of
        strings, empty when the message conforms."""
        try:
            message = json.loads(text)
        except ValueError as e:
            return [f"not JSON: {e}"]
        out = []
        for error in sorted(self.validator.iter_errors(message), key=lambda e: list(e.absolute_path)):
            where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            out.append(f"{where}: {error.message}")
        if isinstance(message, dict):
            kind = message.get("type")
            expected = self.senders.get(kind) if isinstance(kind, str) else None
            if isinstance(kind, str) and expected is None:
                out.append(f"$.type: unknown message type {kind!r}")
            elif sender and expected not in (sender, "both"):
                out.append(f"$.type: {kind} is sent by the {expected}, not the {sender}")
        return out
