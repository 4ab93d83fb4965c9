"""The `lps` entry point: other packages contribute subcommands through the registry."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from lps.cli import build_parser, main


def test_a_package_contributes_a_subcommand(tmp_path: Path, monkeypatch: Any,
                                            capsys: Any) -> None:
    (tmp_path / "lps_extra_cmds.py").write_text(
        "def register_commands(sub):\n"
        "    p = sub.add_parser('hello', help='say hello')\n"
        "    p.add_argument('name')\n"
        "    p.set_defaults(func=lambda args: print('hello', args.name) or 7)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("LPS_COMMANDS", "lps_extra_cmds,not_installed_pkg.cli")
    assert main(["hello", "world"]) == 7
    assert capsys.readouterr().out == "hello world\n"
    sys.modules.pop("lps_extra_cmds", None)


def test_switch_commands_are_always_there() -> None:
    parser = build_parser(["lps.cli"])
    for argv in (["serve", "--config", "x.toml"], ["cards", "block", "6280000000000016"],
                 ["balance", "6280000000000016"]):
        assert parser.parse_args(argv).func is not None


def test_bad_configuration_is_exit_2_with_file_and_key(tmp_path: Path, capsys: Any) -> None:
    bad = tmp_path / "lps.toml"
    bad.write_text('[switch]\nlisten_ascii = "nowhere"\ndatabase = "x.db"\n')
    assert main(["balance", "6280000000000016", "--config", str(bad)]) == 2
    assert f"{bad}: switch.listen_ascii: must be HOST:PORT" in capsys.readouterr().err


def test_broken_extension_module_is_not_hidden(tmp_path: Path, monkeypatch: Any) -> None:
    (tmp_path / "lps_broken_cmds.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("LPS_COMMANDS", "lps_broken_cmds")
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_xyz"):
        build_parser(["lps.cli"])
