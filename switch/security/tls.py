"""TLS for the terminal listeners: the same framing inside TLS (docs/protocol.md §1)."""

from __future__ import annotations

import ssl

from switch.config import ConfigError, TlsFiles


def server_context(files: TlsFiles, config_path: str, listener: str) -> ssl.SSLContext:
    """A server context for one listener: TLS 1.2 or later, the configured certificate chain."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(files.cert), str(files.key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(config_path, f"switch.tls.{listener}",
                          f"cannot load tls_cert/tls_key: {exc}") from None
    return ctx
