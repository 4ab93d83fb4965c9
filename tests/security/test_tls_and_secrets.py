"""TLS on the listeners, and no clear key or unmasked PAN where the switch writes things."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import logging
import ssl
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from switch.config import ConfigError, load_config
from tests.security.support import Terminal, lps, new_terminal, running, write_config
from tests.switch.support import T1, T3, burn, card, earn, request
from tests.waits import EVENT


def make_certificate(tmp: Path) -> tuple[Path, Path]:
    """A self-signed server certificate for localhost / 127.0.0.1 (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "switch.crt", tmp / "switch.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.mark.parametrize("profile", ["ascii", "bcd"])
def test_tls_listener_with_maced_traffic(tmp_path: Path, profile: str) -> None:
    cert, key = make_certificate(tmp_path)
    cfg = write_config(tmp_path, tls=(cert, key))
    assert load_config(cfg).switch.tls[profile].cert == cert
    tmk = new_terminal(cfg, T1)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    pan = card(5)

    async def body() -> None:
        async with running(cfg) as sw:
            term = await Terminal(T1, profile, tmk).connect(sw, client_ctx)
            await term.key_exchange()
            assert (await term.send(request("0800", T1, 900001, extra={70: "001"}))
                    ).fields[39] == "00"
            assert (await term.send(earn(T1, 1, pan, 100_000))).fields[39] == "00"
            await term.close()
            # Plain TCP to a TLS listener gets no answer: the handshake fails, nothing decided.
            addr = sw.addresses[profile]
            reader, writer = await asyncio.open_connection(addr.host, addr.port)
            writer.write(term.encode(earn(T1, 2, pan, 100_000)))
            try:
                data = await asyncio.wait_for(reader.read(100), EVENT)
            except ConnectionResetError:
                data = b""
            assert data == b"" or data[0] == 0x15, data  # nothing, or a TLS alert record
            writer.close()
            # A client that does not trust the certificate is refused.
            with pytest.raises(ssl.SSLError):
                await Terminal(T1, profile, tmk).connect(sw, ssl.create_default_context())
    asyncio.run(body())
    import sqlite3
    conn = sqlite3.connect(tmp_path / "lps.db")
    assert conn.execute("SELECT count(*) FROM journal WHERE stan = '000002'").fetchone() == (0,)
    conn.close()


def test_tls_config_errors_name_the_key(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, tls=(tmp_path / "missing.crt", tmp_path / "missing.key"))

    async def body() -> None:
        with pytest.raises(ConfigError, match=r"switch\.tls\.ascii: cannot load"):
            async with running(cfg):
                pass
    asyncio.run(body())
    text = cfg.read_text().replace("tls_key =", "tls_kye =", 1)
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=r"switch\.tls\.ascii\.tls_key: is missing"):
        load_config(cfg)


def test_no_clear_key_or_unmasked_pan_in_database_logs_or_metrics(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cfg = write_config(tmp_path)
    tmk = new_terminal(cfg, T1)
    tmk3 = new_terminal(cfg, T3)
    pans = [card(11), card(12)]
    keys: list[bytes] = [tmk, tmk3]
    metrics_text = ""

    async def body() -> None:
        nonlocal metrics_text
        async with running(cfg) as sw:
            for tid, key, profile in ((T1, tmk, "ascii"), (T3, tmk3, "bcd")):
                term = await Terminal(tid, profile, key).connect(sw)
                await term.key_exchange()
                assert term.mac_key is not None and term.pin_key is not None
                keys.extend([term.mac_key, term.pin_key])
                await term.send(request("0800", tid, 900001, extra={70: "001"}))
                for i, pan in enumerate(pans):
                    assert (await term.send(earn(tid, 10 + i, pan, 300_000))).fields[39] == "00"
                code, _, err = await asyncio.to_thread(
                    lps, "pin", "set", pans[0], "--config", str(cfg), stdin="4321\n")
                assert code == 0, err
                for stan, pin in ((20, "1111"), (21, "4321")):
                    await term.send(burn(tid, stan, pans[0], 1_000,
                                         extra={52: term.pin_block(pin, pans[0])}))
                bad = bytearray(term.encode(earn(tid, 30, pans[1], 1_000)))
                bad[-1] ^= 1
                assert term.check_response(await term.exchange(bytes(bad))).fields[39] == "63"
                await term.close()
            addr = sw.addresses["metrics"]
            url = f"http://{addr.host}:{addr.port}/metrics"
            metrics_text = await asyncio.to_thread(
                lambda: urllib.request.urlopen(url, timeout=EVENT).read().decode())
        assert 'lps_security_events_total{event="mac_bad"} 2.0' in metrics_text
        assert 'event="pin_wrong"' in metrics_text

    asyncio.run(body())
    lmk = bytes.fromhex(json.loads((tmp_path / "lmk.json").read_text())["lmk"])
    keys.append(lmk)
    db_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("lps.db*") if p.is_file())
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert "event=security" in logs and "628000******" in logs  # the scan sees real lines
    for key in keys:
        for form in (key.hex().upper().encode(), key.hex().encode(), key):
            assert form not in db_bytes, "a clear key in the database"
            text = form.decode("latin-1")
            assert text not in logs, "a clear key in the logs"
            assert text not in metrics_text, "a clear key in the metrics"
    for pan in pans:
        assert pan not in logs, "an unmasked PAN in the logs"
        assert pan not in metrics_text, "an unmasked PAN in the metrics"
