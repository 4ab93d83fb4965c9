"""The agent's configuration: `[agent]` and `[switch]` of a TOML file, validated with errors that
name the file, the key and the problem. The same rules check live updates arriving over MQTT."""

from __future__ import annotations

import tomllib
import unicodedata
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import is_ascii_digits


class ConfigError(ValueError):
    """`file: key: problem`, ready to print. The message shows at most `SHOWN` characters of
    the key and of the problem: both may hold what the source sent (an MQTT config message's
    keys and values), and the message goes to the log and into an MQTT event."""

    SHOWN = 200

    def __init__(self, source: str, key: str, problem: str) -> None:
        super().__init__(f"{source}: {_clipped(key, self.SHOWN)}: "
                         f"{_clipped(problem, self.SHOWN)}")
        self.source, self.key, self.problem = source, key, problem


def _clipped(text: str, most: int) -> str:
    return text if len(text) <= most else f"{text[:most]}... ({len(text)} characters)"


@dataclass(frozen=True)
class AgentConfig:
    terminal_id: str
    store_id: str
    hosts: tuple[str, ...]  # switch addresses (host:port) in order of preference
    profile: str = "ascii"
    ecr_port: str = ""
    ecr_baud: int = 9600
    reader: str = "auto"
    barcode_port: str = ""
    barcode_baud: int = 9600
    card_wait_seconds: float = 30.0
    card_read_timeout_seconds: float = 5.0
    request_timeout_seconds: float = 10.0
    echo_interval_seconds: float = 60.0
    reconnect_max_seconds: float = 30.0
    data_dir: str = "var/agent"
    mqtt: str = ""
    mqtt_prefix: str = "lps/v1/terminals"
    tpdu: str = "6000010000"  # bcd profile: 0x60, destination NII, source NII (hex)
    tmk: str = ""  # terminal master key (32 hex): key exchange and MAC when set
    tmk_components: tuple[str, ...] = ()  # or the TMK as clear components to XOR
    tmk_kcv: str = ""  # check value the TMK must show (6 hex), checked at load
    tls_ca: str = ""  # PEM file of the CA (or certificate) to trust: TLS to the switch when set
    tls_server_name: str = ""  # name to check in the switch's certificate (default: its host)
    connect_timeout_seconds: float = 5.0  # a switch address silent this long is unreachable
    failback_after_seconds: float = 300.0  # on a later address: check the first one this often;
    #                                        0: never go back until the current one fails

    @property
    def mqtt_host(self) -> str:
        return urlsplit(self.mqtt).hostname or "127.0.0.1"

    @property
    def mqtt_port(self) -> int:
        return urlsplit(self.mqtt).port or 1883

    @property
    def topic_base(self) -> str:
        return f"{self.mqtt_prefix}/{self.terminal_id}"


def split_address(address: str) -> tuple[str, int]:
    """`host:port` (or `[v6]:port`), already validated, as the host and the port number."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


_BAUDS = {1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200}
MAX_HOSTS = 16
# The keys of `[switch]` (docs/agent.md "Switch failover"); every other key is in `[agent]`.
SWITCH_KEYS = ("hosts", "connect_timeout_seconds", "failback_after_seconds")
# Keys an operator may change over MQTT (`config` topic) without restarting the agent; `switch`
# there is one address, a list of one in `hosts`.
LIVE_KEYS = ("switch", "hosts", "failback_after_seconds", "connect_timeout_seconds", "profile",
             "store_id", "card_wait_seconds", "card_read_timeout_seconds",
             "request_timeout_seconds", "echo_interval_seconds", "reconnect_max_seconds")
_DEFAULTS = {f.name: f.default for f in fields(AgentConfig)}


def _text(src: str, key: str, v: Any, *, empty: bool = True, max_len: int = 200) -> str:
    if not isinstance(v, str):
        raise ConfigError(src, key, f"must be a string, got {type(v).__name__} {v!r}")
    if not empty and not v.strip():
        raise ConfigError(src, key, "must not be empty")
    if len(v) > max_len:
        raise ConfigError(src, key, f"longer than {max_len} characters")
    if any(unicodedata.category(c) == "Cc" for c in v):
        # a NUL is no file or port name (opening it raises, not fails), a newline in a name
        # the log quotes would forge log lines
        raise ConfigError(src, key, "holds a control character (NUL, newline, ...)")
    return v


def _ans(src: str, key: str, v: Any, max_len: int) -> str:
    text = _text(src, key, v, empty=False, max_len=max_len)
    if not text.isascii() or not text.isprintable():
        raise ConfigError(src, key, "must be printable ASCII")
    return text


def _seconds(src: str, key: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ConfigError(src, key, f"must be a number of seconds, got {v!r}")
    if not 0 < v <= 3600:
        raise ConfigError(src, key, f"must be more than 0 and at most 3600 seconds, got {v}")
    return float(v)


def _check(src: str, label: str, v: Any) -> Any:
    """Validate one key's value (`label` is how the error names it); return it normalised."""
    key = label.rsplit(".", 1)[-1]
    return _check_key(src, label, key, v)


def _check_key(src: str, label: str, key: str, v: Any) -> Any:
    if key == "terminal_id":
        return _ans(src, label, v, 8)
    if key == "store_id":
        return _ans(src, label, v, 15)
    if key == "switch":
        return _address(src, label, v)
    if key == "hosts":
        return _hosts(src, label, v)
    if key == "failback_after_seconds":
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 86400:
            raise ConfigError(src, label, "must be a number of seconds from 0 (never) to 86400,"
                              f" got {v!r}")
        return float(v)
    if key == "profile":
        if v not in ("ascii", "bcd"):
            raise ConfigError(src, label, f"must be \"ascii\" or \"bcd\", got {v!r}")
        return v
    if key in ("ecr_baud", "barcode_baud"):
        if isinstance(v, bool) or not isinstance(v, int) or v not in _BAUDS:
            raise ConfigError(src, label, f"must be one of {sorted(_BAUDS)}, got {v!r}")
        return v
    if key == "tls_ca":
        text = _text(src, label, v)
        if text and not Path(text).is_file():
            raise ConfigError(src, label, f"no such file: {text}")
        return text
    if key in ("ecr_port", "reader", "barcode_port", "data_dir", "mqtt_prefix",
               "tls_server_name"):
        text = _text(src, label, v, empty=key in ("ecr_port", "barcode_port", "tls_server_name"))
        if key == "mqtt_prefix" and ("+" in text or "#" in text or text.endswith("/")):
            raise ConfigError(src, label, "must be a topic prefix without wildcards or trailing /")
        return text
    if key.endswith("_seconds"):
        return _seconds(src, label, v)
    if key == "mqtt":
        text = _text(src, label, v)
        if text:
            try:
                parts = urlsplit(text)
            except ValueError:  # an unclosed [ of an IPv6 host
                parts = urlsplit("")
            if "@" in parts.netloc:
                # never quoted: a password would reach the log; and the link would not use it
                raise ConfigError(src, label, "must not carry a user or password "
                                  "(mqtt://host[:port])")
            if parts.scheme != "mqtt" or not parts.hostname or parts.path not in ("", "/") \
                    or parts.query or parts.fragment:
                raise ConfigError(src, label, f"must be \"\" or mqtt://host[:port], got {text!r}")
            try:
                port = parts.port
            except ValueError:
                port = 0
            if port == 0:
                raise ConfigError(src, label, f"bad port in {text!r}")
        return text
    if key == "tmk":
        text = _text(src, label, v)
        if text and (len(text) != 32 or any(c not in "0123456789abcdefABCDEF" for c in text)):
            raise ConfigError(src, label, "must be \"\" or 32 hex digits (double-length TDES)")
        return text.upper()
    if key == "tmk_components":
        if not isinstance(v, list) or len(v) < 2:
            raise ConfigError(src, label, "must be a list of at least 2 key components")
        comps: list[str] = []
        for i, comp in enumerate(v):
            text = comp.replace(" ", "") if isinstance(comp, str) else ""
            if len(text) != 32 or any(c not in "0123456789abcdefABCDEF" for c in text):
                raise ConfigError(src, f"{label}[{i}]", "must be 32 hex digits (spaces allowed)")
            comps.append(text.upper())
        return tuple(comps)
    if key == "tmk_kcv":
        text = _text(src, label, v)
        if len(text) != 6 or any(c not in "0123456789abcdefABCDEF" for c in text):
            raise ConfigError(src, label, "must be 6 hex digits")
        return text.upper()
    if key == "tpdu":
        text = _text(src, label, v, empty=False)
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = b""
        if len(raw) != 5 or raw[0] != 0x60:
            raise ConfigError(src, label, "must be 10 hex digits starting with 60 (5-byte TPDU)")
        return text.upper()
    known = sorted({*_DEFAULTS, "switch"} - set(SWITCH_KEYS))
    raise ConfigError(src, label, f"unknown key (known: {', '.join(known)})")


def _address(src: str, label: str, v: Any) -> str:
    text = _text(src, label, v, empty=False)
    host, sep, port = text.rpartition(":")
    if (not sep or not host or not text.isascii() or not text.isprintable() or " " in text
            or not is_ascii_digits(port) or not 0 < int(port) < 65536):
        raise ConfigError(src, label, f"must be host:port, got {text!r}")
    return text


def _hosts(src: str, label: str, v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not v:
        raise ConfigError(src, label, f"must be a list of host:port addresses, got {v!r}")
    if len(v) > MAX_HOSTS:
        raise ConfigError(src, label, f"more than {MAX_HOSTS} addresses")
    hosts = tuple(_address(src, f"{label}[{i}]", item) for i, item in enumerate(v))
    for i, address in enumerate(hosts):
        if address in hosts[:i]:
            raise ConfigError(src, f"{label}[{i}]", f"{address} is listed twice")
    return hosts


_REQUIRED = ("terminal_id", "store_id")


def from_mapping(table: dict[str, Any], source: str,
                 switch_table: dict[str, Any] | None = None) -> AgentConfig:
    """`[agent]` and, when given, `[switch]`. `[agent].switch` is the one-address form of
    `[switch].hosts`; giving both is refused (which one would be meant?)."""
    values: dict[str, Any] = {}
    for key, v in table.items():
        if key in SWITCH_KEYS:
            raise ConfigError(source, f"[agent].{key}", "belongs in [switch]")
        values[key] = _check(source, f"[agent].{key}", v)
    for key, v in (switch_table or {}).items():
        if key not in SWITCH_KEYS:
            raise ConfigError(source, f"[switch].{key}",
                              f"unknown key (known: {', '.join(SWITCH_KEYS)})")
        values[key] = _check(source, f"[switch].{key}", v)
    for key in _REQUIRED:
        if key not in values:
            raise ConfigError(source, f"[agent].{key}", "missing (required)")
    single = values.pop("switch", None)
    if single is not None and "hosts" in values:
        raise ConfigError(source, "[agent].switch",
                          "give either [agent].switch or [switch].hosts, not both")
    if single is not None:
        values["hosts"] = (single,)
    if "hosts" not in values:
        raise ConfigError(source, "[switch].hosts",
                          "missing (required; or [agent].switch for a single address)")
    _terminal_master_key(values, source)
    return AgentConfig(**values)


def _terminal_master_key(values: dict[str, Any], source: str) -> None:
    """Combine `tmk_components` (XOR) into `tmk` and check `tmk_kcv`, as a terminal does
    when custodians load a key printed by `lps keys new-terminal`."""
    from .security import kcv

    comps = values.get("tmk_components", ())
    if comps and values.get("tmk"):
        raise ConfigError(source, "[agent].tmk_components", "give either tmk or its components")
    if comps:
        key = bytes(16)
        for comp in comps:
            key = bytes(a ^ b for a, b in zip(key, bytes.fromhex(comp), strict=True))
        values["tmk"] = key.hex().upper()
    check = values.get("tmk_kcv", "")
    if check:
        if not values.get("tmk"):
            raise ConfigError(source, "[agent].tmk_kcv", "given without tmk or tmk_components")
        got = kcv(bytes.fromhex(values["tmk"]))
        if got != check:
            raise ConfigError(source, "[agent].tmk_kcv",
                              f"the key loaded shows check value {got}, not {check}")


def load_config(path: str | Path) -> AgentConfig:
    """Read and validate a config file; every fault is a ConfigError naming file and key."""
    p = Path(path)
    src = str(p)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(src, "(file)", f"cannot read: {exc.strerror or exc}") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(src, "(file)", "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(src, "(file)", f"not valid TOML: {exc}") from None
    except RecursionError:  # tomllib reads nested arrays and inline tables recursively
        raise ConfigError(src, "(file)", "not valid TOML: arrays or tables nested too deep"
                          ) from None
    for section in doc:
        if section not in ("agent", "switch"):
            raise ConfigError(src, f"[{section}]",
                              "unknown section (only [agent] and [switch] are read)")
    table = doc.get("agent")
    if not isinstance(table, dict):
        raise ConfigError(src, "[agent]", "missing section")
    switch_table = doc.get("switch", {})
    if not isinstance(switch_table, dict):
        raise ConfigError(src, "[switch]", "must be a table")
    return from_mapping(table, src, switch_table)


def apply_live(cfg: AgentConfig, update: Any, source: str) -> AgentConfig:
    """A `config` message from MQTT: only LIVE_KEYS, each validated like the file."""
    if not isinstance(update, dict):
        raise ConfigError(source, "(payload)", "must be a JSON object")
    changes: dict[str, Any] = {}
    for key, v in update.items():
        if key not in LIVE_KEYS:
            live = ", ".join(LIVE_KEYS)
            raise ConfigError(source, key, f"cannot be set live (live keys: {live})")
        changes[key] = _check(source, key, v)
    if "switch" in changes:
        if "hosts" in changes:
            raise ConfigError(source, "switch", "give either switch or hosts, not both")
        changes["hosts"] = (changes.pop("switch"),)
    return replace(cfg, **changes)
