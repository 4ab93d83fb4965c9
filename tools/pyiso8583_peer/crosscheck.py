"""Cross-check the LPS codec against pyiso8583 and write tests/vectors/pyiso8583_corpus.json.

pyiso8583 is also imported as `iso8583`, so this runs in its own virtual environment:

    .venv-peer/bin/python tools/pyiso8583_peer/crosscheck.py          # rewrite the corpus
    .venv-peer/bin/python tools/pyiso8583_peer/crosscheck.py --check  # compare, exit 1 on drift

For every message of corpus_messages.py in both profiles it (a) encodes the message with
pyiso8583, (b) has OUR codec encode it (lps_side.py in a subprocess run by the main
environment's python) and (c) decodes our bytes with pyiso8583. The JSON keeps the source
message, both wires and what pyiso8583 read from ours; tests/crosscheck/ then checks, with our
codec only, that our decode of pyiso8583's bytes gives the source, that our encode gives
pyiso8583's bytes, and that pyiso8583 read the source back from ours. A second list, `rejects`,
holds bytes pyiso8583 produces without complaint but docs/protocol.md forbids; our decoder must
refuse each with the field named.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DEFAULT_OUT = ROOT / "tests" / "vectors" / "pyiso8583_corpus.json"
DEFAULT_LPS_PYTHON = ROOT / ".venv" / "bin" / "python"


def _import_peer() -> Any:
    """pyiso8583's `iso8583`, refusing to run against the LPS package by mistake."""
    here = str(HERE)
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT]
    import iso8583

    if hasattr(iso8583, "load_profile") or not hasattr(iso8583, "decode"):
        sys.exit(f"`iso8583` resolves to {iso8583.__file__}, not pyiso8583: run this with "
                 "the .venv-peer python, outside the repository root")
    if here not in sys.path:
        sys.path.insert(0, here)
    return iso8583


pyiso = _import_peer()
import corpus_messages as cm  # noqa: E402  (after the path guard above)
import peer_specs  # noqa: E402

DIFFERENCES = [
    "Valid messages: none. With the specs of peer_specs.py both codecs write every corpus "
    "message byte for byte alike, in both profiles.",
    "DE48: pyiso8583's stock specs declare it ASCII; LPS-87 (§3) needs data_enc utf-8. "
    "pyiso8583 then counts the LLL in encoded bytes, as the protocol says, so the bytes agree; "
    "tests/crosscheck checks the byte count on both wires for every non-ASCII DE48.",
    "DE35 in bcd: pyiso8583 has no track-2 type; it carries the nibbles as hex text, so '=' "
    "appears as 'D' in its documents and no character check is made.",
    "Fixed fields: pyiso8583 needs them at full length; the LPS API also zero-fills a short "
    "fixed n value (the corpus gives full-length values, as a decoder returns them).",
    "Validation: pyiso8583 does not check content (hex nibbles in BCD numerics, letters in ASCII "
    "numerics, pad nibbles, control characters, charset). `rejects` lists bytes it writes that "
    "docs/protocol.md forbids; our decoder must refuse each, naming the field.",
]


def _jsonable_fields(fields: dict[int, Any]) -> dict[str, Any]:
    return {str(n): cm.to_json_value(v) for n, v in sorted(fields.items())}


def _peer_encode(profile: str, entry: dict[str, Any],
                 spec: dict[str, Any] | None = None) -> tuple[bytes, dict[str, str]]:
    doc = peer_specs.to_peer(profile, entry["mti"], entry["fields"], entry["tpdu"])
    raw, _ = pyiso.encode(copy.deepcopy(doc), spec or peer_specs.spec_for(profile))
    return bytes(raw), doc


def _run_lps_side(lps_python: Path, entries: list[dict[str, Any]]) -> dict[str, Any]:
    payload = [{"id": e["id"], "profile": e["profile"], "mti": e["mti"],
                "fields": _jsonable_fields(e["fields"]),
                "tpdu": e["tpdu"].hex() if e["tpdu"] else None} for e in entries]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([str(lps_python), str(HERE / "lps_side.py")], cwd=ROOT, env=env,
                          input=json.dumps(payload), capture_output=True, text=True,
                          check=False, timeout=120)
    if done.returncode:
        sys.exit(f"lps_side.py failed ({done.returncode}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _rejects() -> list[dict[str, Any]]:
    """Bytes pyiso8583 writes happily that docs/protocol.md forbids, and the field at fault."""
    base = {m["id"]: m for m in cm.messages()}
    earn, inquiry = base["0200-000000-earn"], base["0200-310000-balance"]
    cases: list[dict[str, Any]] = []

    def case(ident: str, profile: str, source: dict[str, Any], field: int, why: str,
             spec_change: dict[str, Any] | None = None, **changes: Any) -> None:
        entry = copy.deepcopy(source)
        entry["fields"].update({int(k[2:]): v for k, v in changes.items()})
        entry["tpdu"] = cm.REQUEST_TPDU if profile == "bcd" else None
        spec = peer_specs.spec_for(profile)
        for key, change in (spec_change or {}).items():
            spec[key] = {**spec[key], **change}
        raw, _ = _peer_encode(profile, entry, spec)
        cases.append({"id": ident, "profile": profile, "field": field, "why": why,
                      "pyiso8583_wire": raw.hex().upper()})

    case("ascii-de4-letter", "ascii", earn, 4,
         "pyiso8583 writes any text into an ascii `n` field; DE4 must be digits",
         DE4="00000025000A")
    case("bcd-de3-hex-nibble", "bcd", earn, 3,
         "data_enc b accepts any hex nibble; a packed BCD `n` field holds 0-9 only",
         DE3="00A000")
    case("bcd-de2-pad-f", "bcd", base["0200-900000-redeem"], 2,
         "odd PAN left-padded with F; docs/protocol.md §1 pads an odd `n` with a 0 nibble",
         spec_change={"2": {"left_pad": "F"}})
    case("bcd-de35-pad-0", "bcd", inquiry, 35,
         "odd track 2 right-padded with 0 (jPOS ISO87B style); LPS-87 pads DE35 with F",
         spec_change={"35": {"right_pad": "0"}})
    case("ascii-de48-latin1", "ascii", base["0210-000000-earn-approved"], 48,
         "DE48 written as Latin-1 instead of UTF-8 (§3)",
         spec_change={"48": {"data_enc": "latin-1"}},
         DE48=cm.tlv(("MS", "caf\u00e9 cr\u00e8me")))
    case("ascii-de41-control", "ascii", earn, 41,
         "DE41 `ans` holding a control character", DE41="T00\x010001")
    return cases


def build(lps_python: Path) -> dict[str, Any]:
    entries = cm.corpus()
    ours = _run_lps_side(lps_python, entries)
    messages = []
    for entry in entries:
        profile = entry["profile"]
        peer_raw, peer_doc = _peer_encode(profile, entry)
        key = f"{profile}/{entry['id']}"
        record: dict[str, Any] = {
            "id": entry["id"], "profile": profile, "note": entry["note"], "mti": entry["mti"],
            "tpdu": entry["tpdu"].hex().upper() if entry["tpdu"] else None,
            "fields": _jsonable_fields(entry["fields"]),
            "pyiso8583_doc": peer_doc,
            "pyiso8583_wire": peer_raw.hex().upper(),
        }
        if "error" in ours[key]:
            record["lps_error"] = ours[key]["error"]
        else:
            lps_raw = bytes.fromhex(ours[key]["wire"])
            record["lps_wire"] = lps_raw.hex().upper()
            decoded, _ = pyiso.decode(lps_raw, peer_specs.spec_for(profile))
            record["pyiso8583_decoded_lps"] = decoded
        messages.append(record)
    return {
        "about": ("LPS-87 messages encoded by pyiso8583 (PyPI pyiso8583) and by the LPS codec; "
                  "written by tools/pyiso8583_peer/crosscheck.py, checked by "
                  "tests/crosscheck/test_pyiso8583_corpus.py. Bytes are upper-case hex; a "
                  "field value {\"hex\": ...} is `bytes`, any other is `str`. pyiso8583 "
                  "documents show `b` fields as hex, bcd DE35 with D for '=' (see "
                  "peer_specs.py)."),
        "pyiso8583_version": getattr(pyiso, "__version__", "unknown"),
        "bench_ids": list(cm.BENCH_IDS),
        "differences": DIFFERENCES,
        "specs": {p: peer_specs.spec_for(p) for p in peer_specs.PROFILES},
        "messages": messages,
        "rejects": _rejects(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--lps-python", type=Path, default=DEFAULT_LPS_PYTHON,
                        help="python of the environment where `iso8583` is the LPS codec")
    parser.add_argument("--check", action="store_true",
                        help="compare with --out instead of writing it; exit 1 on any change")
    args = parser.parse_args(argv)
    corpus = build(args.lps_python)
    text = json.dumps(corpus, indent=1, ensure_ascii=False) + "\n"
    problems = [f"{m['profile']}/{m['id']}: {m['lps_error']}" for m in corpus["messages"]
                if "lps_error" in m]
    problems += [f"{m['profile']}/{m['id']}: pyiso8583 and LPS bytes differ"
                 for m in corpus["messages"]
                 if "lps_wire" in m and m["lps_wire"] != m["pyiso8583_wire"]]
    for line in problems:
        print("DIFFERENCE", line)
    if args.check:
        same = args.out.exists() and args.out.read_text(encoding="utf-8") == text
        print(f"{args.out}: {'up to date' if same else 'OUT OF DATE'}")
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: {len(corpus['messages'])} messages, "
          f"{len(corpus['rejects'])} rejects, {len(problems)} differences")
    return 0


if __name__ == "__main__":
    sys.exit(main())
