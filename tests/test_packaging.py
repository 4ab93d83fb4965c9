"""pyproject.toml as setuptools reads it: the licence as an SPDX expression (PEP 639)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.licenses import canonicalize_license_expression

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_license_is_an_spdx_expression_setuptools_accepts() -> None:
    data = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    license_ = data["project"]["license"]
    # A table ({text = ...}) is the deprecated form setuptools warns about at every install.
    assert isinstance(license_, str), license_
    assert canonicalize_license_expression(license_) == license_
    # String licences need setuptools 77 or later; an older one refuses the file.
    wanted = [r for r in data["build-system"]["requires"] if r.startswith("setuptools")]
    found = re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", wanted[0])
    assert found and int(found.group(1)) >= 77, wanted
