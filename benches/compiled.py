"""A copy of the tree with the event loop's request path compiled by mypyc, to measure against.

    python -m benches.compiled DEST [--commit HEAD]
    python -m benches.loadgen --target switch --switch-root DEST ...

The copy is `git archive` of the commit, so the working tree is never touched: an editable
install would otherwise put the `.so` files beside the sources they shadow. The modules are
what the loop thread runs for an answer (`benches.opcount` lists them): the codec's fast
path, the core and its programs, the connection and the journal's batch rows. Left out, each
because mypyc cannot compile it as it stands: `switch/core/catalog.py` (`switch.config.Config`
subclasses its frozen class, and interpreted code cannot subclass a compiled one) and the
modules that subclass builtin exceptions (`switch/core/card_store.py`, `switch/writer.py`).

The build is for measuring only (benches/README.md, "The loop's path compiled"): the tests
are not run against it, and the compiled modules check their annotations at run time, which
the pure ones leave to the explicit checks the tests hold them to.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Never compiled: see the module's docstring.
LEFT_OUT = frozenset({"switch/core/catalog.py", "switch/core/card_store.py"})

#: Modules outside `switch/core` on the loop's path.
SHELL = ("iso8583/fastpath.py", "iso8583/loyalty.py", "iso8583/framing.py",
         "switch/connection.py", "switch/journal/batch.py", "switch/journal/codec.py",
         "switch/metrics.py")


def modules(tree: Path) -> list[str]:
    """The modules to compile, relative to `tree`."""
    core = sorted(str(p.relative_to(tree)) for pattern in ("switch/core/*.py",
                                                           "switch/core/programs/*.py")
                  for p in tree.glob(pattern) if p.name != "__init__.py")
    return [m for m in core if m not in LEFT_OUT] + list(SHELL)


def build(dest: Path, commit: str) -> list[str]:
    if dest.exists():
        raise SystemExit(f"{dest} exists; give a new directory")
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    # mypyc's generated setup.py reads pyproject.toml, whose [project] table setuptools refuses
    (dest / "pyproject.toml").unlink()
    chosen = modules(dest)
    subprocess.run([str(Path(sys.executable).with_name("mypyc")), *chosen], cwd=dest,
                   check=True)
    shutil.rmtree(dest / "build")
    (dest / ".venv").symlink_to(ROOT / ".venv")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path, help="a new directory for the compiled copy")
    parser.add_argument("--commit", default="HEAD", help="the commit to copy (HEAD)")
    args = parser.parse_args()
    chosen = build(args.dest.resolve(), args.commit)
    print(f"compiled {len(chosen)} modules into {args.dest}; measure it with "
          f"`python -m benches.loadgen --switch-root {args.dest}`")


if __name__ == "__main__":
    main()
