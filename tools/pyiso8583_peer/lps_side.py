"""The LPS side of the cross-check: encode corpus entries with OUR codec.

Run by crosscheck.py with the main virtual environment's python (/work/main/.venv), where
`iso8583` is the LPS codec. Reads a JSON list of {"id", "profile", "mti", "fields", "tpdu"}
(bytes as {"hex": ...}) on stdin and writes {id: {"wire": hex} | {"error": text}} on stdout.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def main() -> int:
    import iso8583
    from iso8583 import CodecError, Message, load_profile

    if not hasattr(iso8583, "load_profile"):
        print("lps_side.py must run where `iso8583` is the LPS codec", file=sys.stderr)
        return 2
    entries: list[dict[str, Any]] = json.load(sys.stdin)
    out: dict[str, dict[str, str]] = {}
    for entry in entries:
        fields = {int(k): bytes.fromhex(v["hex"]) if isinstance(v, dict) else v
                  for k, v in entry["fields"].items()}
        tpdu = bytes.fromhex(entry["tpdu"]) if entry["tpdu"] else None
        key = f"{entry['profile']}/{entry['id']}"
        try:
            wire = load_profile(entry["profile"]).encode(Message(entry["mti"], fields, tpdu))
        except CodecError as exc:
            out[key] = {"error": f"{type(exc).__name__}: {exc}"}
        else:
            out[key] = {"wire": wire.hex().upper()}
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
