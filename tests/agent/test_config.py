"""Config validation: the shipped example is accepted as it is; every fault names file+key."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from terminal_agent.config import ConfigError, apply_live, load_config, split_address
from tests.waits import EVENT, START

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "agent.toml"
SHARED = Path("/work/shared/examples/agent.toml")


def test_example_accepted_as_is() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.terminal_id == "T0000001"
    assert cfg.store_id == "STORE0000000001"
    assert cfg.hosts == ("127.0.0.1:8583", "127.0.0.2:8583") and cfg.profile == "ascii"
    assert split_address(cfg.hosts[0]) == ("127.0.0.1", 8583)
    assert cfg.failback_after_seconds == 300 and cfg.connect_timeout_seconds == 5
    assert cfg.card_wait_seconds == 30 and cfg.request_timeout_seconds == 10
    assert cfg.mqtt == "" and cfg.data_dir == "var/agent" and cfg.reader == "auto"
    if SHARED.exists():  # the form with one `switch` address in [agent]: a list of one
        old = load_config(SHARED)
        assert old.hosts == cfg.hosts[:1]
        assert dataclasses.replace(old, hosts=cfg.hosts) == cfg


def _write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "agent.toml"
    p.write_text(body)
    return p


BASE = 'terminal_id = "T1"\nstore_id = "S1"\nswitch = "h:1"\n'


@pytest.mark.parametrize(("body", "key", "problem"), [
    ('[agent]\nstore_id = "S1"\nswitch = "h:1"\n', "[agent].terminal_id", "missing"),
    ("[agent]\n" + BASE + 'profile = "ebcdic"\n', "[agent].profile", '"ascii" or "bcd"'),
    ("[agent]\n" + BASE + 'swtich = "x"\n', "[agent].swtich", "unknown key"),
    ("[agent]\n" + BASE + "ecr_baud = 9601\n", "[agent].ecr_baud", "must be one of"),
    ("[agent]\n" + BASE + "card_wait_seconds = 0\n", "[agent].card_wait_seconds", "more than 0"),
    ("[agent]\n" + BASE + "card_wait_seconds = true\n", "[agent].card_wait_seconds", "number"),
    ("[agent]\n" + BASE + 'mqtt = "http://x"\n', "[agent].mqtt", "mqtt://host"),
    ('[agent]\nterminal_id = "T000000001"\nstore_id = "S"\nswitch = "h:1"\n',
     "[agent].terminal_id", "longer than 8"),
    ('[agent]\nterminal_id = "T1"\nstore_id = "S"\nswitch = "h:99999"\n', "[agent].switch",
     "host:port"),
    ("[agent]\n" + BASE + 'tpdu = "12"\n', "[agent].tpdu", "10 hex digits"),
    ("[agent]\n" + BASE + 'tls_ca = "/no/such/ca.pem"\n', "[agent].tls_ca", "no such file"),
    ("[agent\n", "(file)", "not valid TOML"),
    ("x = " + "[" * 100_000 + "]" * 100_000 + "\n", "(file)", "nested too deep"),
    ("[other]\nx = 1\n", "[other]", "unknown section"),
    ("[agent]\n" + BASE + '[switch]\nhosts = ["a:1"]\n', "[agent].switch", "not both"),
    ('[agent]\nterminal_id = "T1"\nstore_id = "S1"\n', "[switch].hosts", "missing"),
    ('[agent]\nterminal_id = "T1"\nstore_id = "S1"\n[switch]\nhosts = []\n',
     "[switch].hosts", "list of host:port"),
    ('[agent]\nterminal_id = "T1"\nstore_id = "S1"\n[switch]\nhosts = "a:1"\n',
     "[switch].hosts", "list of host:port"),
    ('[agent]\nterminal_id = "T1"\nstore_id = "S1"\n[switch]\nhosts = ["a:1", "b"]\n',
     "[switch].hosts[1]", "host:port"),
    ('[agent]\nterminal_id = "T1"\nstore_id = "S1"\n[switch]\nhosts = ["a:1", 2]\n',
     "[switch].hosts[1]", "must be a string"),
    ('[agent]\nterminal_id = "T1"\nstore_id = "S1"\n[switch]\nhosts = ["a b:1"]\n',
     "[switch].hosts[0]", "host:port"),
    ('[agent]\nterminal_id = "T1"\nstore_id = "S1"\n[switch]\nhosts = ["a:1", "a:1"]\n',
     "[switch].hosts[1]", "listed twice"),
    ('[agent]\nterminal_id = "T1"\nstore_id = "S1"\n[switch]\nhosts = ["a:1"]\n'
     "failback_after_seconds = -1\n", "[switch].failback_after_seconds", "0 (never)"),
    ('[agent]\nterminal_id = "T1"\nstore_id = "S1"\n[switch]\nhosts = ["a:1"]\n'
     "connect_timeout_seconds = 0\n", "[switch].connect_timeout_seconds", "more than 0"),
    ('[agent]\nterminal_id = "T1"\nstore_id = "S1"\n[switch]\nhosts = ["a:1"]\n'
     'profile = "bcd"\n', "[switch].profile", "unknown key"),
    ("[agent]\n" + BASE + 'hosts = ["a:1"]\n', "[agent].hosts", "belongs in [switch]"),
    ("[agent]\n" + BASE + "switch = 1\n", "(file)", "not valid TOML"),
    ("switch = 1\n[agent]\n" + BASE, "[switch]", "must be a table"),
    ('terminal_id = "T1"\n', "[terminal_id]", "unknown section"),
    ("", "[agent]", "missing section"),
    # a NUL is no path (the agent died at start with a traceback), a newline in a port name
    # would forge log lines
    ("[agent]\n" + BASE + 'data_dir = "var/d\\u0000x"\n', "[agent].data_dir", "control"),
    ("[agent]\n" + BASE + 'ecr_port = "/dev/ttyS0\\nERROR"\n', "[agent].ecr_port", "control"),
    ("[agent]\n" + BASE + 'barcode_port = "\\u0000"\n', "[agent].barcode_port", "control"),
    ("[agent]\n" + BASE + 'mqtt_prefix = "lps\\u0000"\n', "[agent].mqtt_prefix", "control"),
    ("[agent]\n" + BASE + 'mqtt = "mqtt://ho\\u0000st"\n', "[agent].mqtt", "control"),
    ("[agent]\n" + BASE + 'mqtt = "mqtt://[::1"\n', "[agent].mqtt", "mqtt://host"),
    # a password in the URL would be logged and never used; a port 0 or a path is no broker
    ("[agent]\n" + BASE + 'mqtt = "mqtt://lps:s3cret@broker"\n', "[agent].mqtt", "password"),
    ("[agent]\n" + BASE + 'mqtt = "mqtt://broker:0"\n', "[agent].mqtt", "bad port"),
    ("[agent]\n" + BASE + 'mqtt = "mqtt://broker/lps?x=1"\n', "[agent].mqtt", "mqtt://host"),
])
def test_faults_named(tmp_path: Path, body: str, key: str, problem: str) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert e.value.source == str(path)
    assert e.value.key == key
    assert problem in e.value.problem
    assert str(e.value).startswith(f"{path}: {key}: ")
    assert "s3cret" not in str(e.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "nope.toml")
    assert "cannot read" in str(e.value)


def test_hosts_in_order_with_ipv6_and_never_failing_back(tmp_path: Path) -> None:
    body = ('[agent]\nterminal_id = "T1"\nstore_id = "S1"\n[switch]\n'
            'hosts = ["sw2.example:8583", "[::1]:9000", "10.0.0.1:8583"]\n'
            "failback_after_seconds = 0\n")
    cfg = load_config(_write(tmp_path, body))
    assert cfg.hosts == ("sw2.example:8583", "[::1]:9000", "10.0.0.1:8583")
    assert [split_address(h) for h in cfg.hosts] == [
        ("sw2.example", 8583), ("::1", 9000), ("10.0.0.1", 8583)]
    assert cfg.failback_after_seconds == 0
    assert load_config(_write(tmp_path, "[agent]\n" + BASE)).hosts == ("h:1",)


def test_live_update_validated() -> None:
    cfg = load_config(EXAMPLE)
    new = apply_live(cfg, {"switch": "10.0.0.2:9000", "card_wait_seconds": 5}, "mqtt")
    assert (new.hosts, new.card_wait_seconds, new.terminal_id) == (
        ("10.0.0.2:9000",), 5.0, "T0000001")
    new = apply_live(cfg, {"hosts": ["b:2", "a:1"], "failback_after_seconds": 60}, "mqtt")
    assert (new.hosts, new.failback_after_seconds) == (("b:2", "a:1"), 60.0)
    with pytest.raises(ConfigError, match="either switch or hosts"):
        apply_live(cfg, {"switch": "a:1", "hosts": ["b:2"]}, "mqtt")
    with pytest.raises(ConfigError, match=r"hosts\[0\]: must be host:port"):
        apply_live(cfg, {"hosts": ["a:٨٥٨٣"]}, "mqtt")
    with pytest.raises(ConfigError, match="cannot be set live"):
        apply_live(cfg, {"terminal_id": "X"}, "mqtt")
    with pytest.raises(ConfigError, match="host:port"):
        apply_live(cfg, {"switch": "nohost"}, "mqtt")
    with pytest.raises(ConfigError, match="JSON object"):
        apply_live(cfg, [1], "mqtt")


def test_cli_check_config(tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "terminal_agent", "check-config", "--config",
                         str(EXAMPLE)], capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0 and "ok" in ok.stdout
    bad = _write(tmp_path, "[agent]\n" + BASE + 'profile = "x"\n')
    out = subprocess.run([sys.executable, "-m", "terminal_agent", "run", "--config", str(bad)],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2
    assert f"{bad}: [agent].profile: must be" in out.stderr


def test_agent_keeps_running_without_its_register_line(tmp_path: Path) -> None:
    """The example's /dev/ttyUSB0 may not exist yet: the agent logs it, retries, and stops
    cleanly on SIGTERM."""
    import signal
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    text = EXAMPLE.read_text().replace('"/dev/ttyUSB0"', '"/dev/lps-no-such-tty"').replace(
        '"127.0.0.1:8583"', f'"127.0.0.1:{port}"')
    conf = _write(tmp_path, text)
    log = tmp_path / "agent.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "terminal_agent", "run", "--config",
                                 str(conf)], cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                                env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + START
        while b"cannot open register line /dev/lps-no-such-tty" not in log.read_bytes():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(EVENT) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (tmp_path / "var" / "agent" / "agent.db").exists()  # data_dir relative to the cwd


def test_missing_service_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from .conftest import unavailable

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="missing under CI: pcscd"):
        unavailable("pcscd is not installed")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        unavailable("pcscd is not installed")


def test_tmk_from_components_checked(tmp_path: Path) -> None:
    c1 = "9258 1FAE 58AB 57AD 546D 86E3 3D26 4CBA"
    c2 = "B8C0C574443363 5A90C68E21E17E1E9A".replace(" ", "")
    body = "[agent]\n" + BASE + f'tmk_components = ["{c1}", "{c2}"]\n'
    from terminal_agent.security import kcv

    cfg = load_config(_write(tmp_path, body))
    key = bytes(a ^ b for a, b in zip(bytes.fromhex(c1.replace(" ", "")), bytes.fromhex(c2),
                                       strict=True))
    assert cfg.tmk == key.hex().upper()
    good = kcv(key)
    assert load_config(_write(tmp_path, body + f'tmk_kcv = "{good}"\n')).tmk == cfg.tmk
    with pytest.raises(ConfigError, match="shows check value"):
        load_config(_write(tmp_path, body + 'tmk_kcv = "000000"\n'))
    with pytest.raises(ConfigError, match=r"tmk_components\[1\]"):
        load_config(_write(tmp_path, "[agent]\n" + BASE + f'tmk_components = ["{c1}", "12"]\n'))
    with pytest.raises(ConfigError, match="either tmk or its components"):
        load_config(_write(tmp_path, body + f'tmk = "{cfg.tmk}"\n'))
