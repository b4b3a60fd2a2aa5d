"""Keep credentials out of log records that libraries write.

authlib's grants log every issued token dict at DEBUG ("Issue token {...} to client"). The settings
keep the ``authlib`` logger at INFO, but a logger configured to DEBUG later (an operator debugging
sign-in, a test harness) would write access and refresh tokens into the logs. This filter, attached
to every ``authlib.*`` logger where the records are created, masks credential values whatever the
levels say.
"""

from __future__ import annotations

import logging
import re

# Keys whose values are credentials, as they appear in a dict's repr or a "key: value" message.
_SECRET_KEYS = "access_token|refresh_token|id_token|client_secret|code_verifier|device_code|password"
_QUOTED_VALUE = re.compile(rf"""(['"]?(?:{_SECRET_KEYS})['"]?\s*[:=]\s*)(['"])(.*?)\2""")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """`text` with the values of credential keys replaced by ``[redacted]``."""
    return _QUOTED_VALUE.sub(lambda match: f"{match.group(1)}{match.group(2)}{REDACTED}{match.group(2)}", text)


class RedactSecretsFilter(logging.Filter):
    """Formats the record's message once, with credential values masked (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = RedactSecretsFilter()


def install() -> None:
    """Attach the filter to ``authlib`` and every ``authlib.*`` logger that exists (call once the
    provider's modules are imported: authlib creates its loggers at import time)."""
    names = ["authlib", *(name for name in logging.root.manager.loggerDict if name.startswith("authlib."))]
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
