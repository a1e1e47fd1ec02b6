"""aiokafka client options from the settings (the worker's side clients use them)."""

from __future__ import annotations

import ssl
from typing import Any

from wirestream.settings import Settings


def aiokafka_security(settings: Settings) -> dict[str, Any]:
    protocol = settings.broker_security_protocol
    opts: dict[str, Any] = {"security_protocol": protocol}
    if "SSL" in protocol:
        opts["ssl_context"] = ssl.create_default_context(cafile=settings.broker_ssl_cafile or None)
    if protocol.startswith("SASL"):
        opts |= {
            "sasl_mechanism": settings.broker_sasl_mechanism,
            "sasl_plain_username": settings.broker_sasl_username,
            "sasl_plain_password": settings.broker_sasl_password,
        }
    return opts
