"""`python -m benches.opcount OUT FROM TO [drive options]`: bytecodes per answer, by function.

Runs `benches.drive` with the given options and counts every bytecode the interpreter executes,
in every thread, while the drive's answers go from FROM to TO (`sys.settrace` with opcode
events; about 50 times slower than a plain run). The counts do not depend on the machine's
load, and unlike callgrind's they name Python functions: comparing two trees (or two shapes of
one tree) shows which function's work grew. OUT gets `{"answers": n, "ops": {function: count}}`;
the total per answer is printed.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

import benches.drive as drive

_ops: Counter[CodeType] = Counter()
_on = False


def _count(frame: FrameType, event: str, arg: Any) -> Any:
    if event == "opcode":
        _ops[frame.f_code] += 1
    return _count


def _enter(frame: FrameType, event: str, arg: Any) -> Any:
    if not _on:
        return None
    frame.f_trace_opcodes = True
    return _count


def main() -> None:
    global _on
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    out, first, last = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    sys.argv = ["benches.drive", *sys.argv[4:]]
    marks: list[int] = []
    answered = drive.Driver.answered

    def counting(self: drive.Driver, count: int) -> None:
        global _on
        before = self.answers
        answered(self, count)
        for bound, state in ((first, True), (last, False)):
            if before < bound <= self.answers:
                _on = state
                marks.append(self.answers)

    drive.Driver.answered = counting  # type: ignore[method-assign]
    threading.settrace(_enter)
    sys.settrace(_enter)
    try:
        drive.main()
    finally:
        sys.settrace(None)
        threading.settrace(None)
        _on = False
    if len(marks) != 2:
        raise SystemExit(f"the run did not pass both {first} and {last} answers")
    answers = marks[1] - marks[0]
    root = str(Path.cwd()) + "/"
    ops: Counter[str] = Counter()
    for code, n in _ops.items():
        name = f"{code.co_filename.replace(root, '')}:{code.co_firstlineno}:{code.co_qualname}"
        ops[name] += n
    out.write_text(json.dumps({"answers": answers, "ops": ops}))
    print(json.dumps({"answers": answers, "bytecodes_per_answer":
                      round(sum(ops.values()) / answers)}))


if __name__ == "__main__":
    main()
