"""Keep secrets out of run folders, logs, manifests and W&B.

Secrets come from the environment only. Anything that looks like one is replaced before a config
or a message is written: values under secret-looking keys, and any string that contains the value
of a secret-looking environment variable.
"""

from __future__ import annotations

import os
import re
from typing import Any

REDACTED = "***REDACTED***"
SECRET_NAME = re.compile(r"(api[_-]?key|token|secret|password|passwd|credential)", re.IGNORECASE)
MIN_SECRET_LENGTH = 6  # shorter env values ("1", "true") would redact ordinary text


def secret_env_values() -> list[str]:
    """Values of environment variables whose names look secret, longest first."""
    values = {v for k, v in os.environ.items() if SECRET_NAME.search(k) and len(v) >= MIN_SECRET_LENGTH}
    return sorted(values, key=len, reverse=True)


def scrub_text(text: str, secrets: list[str] | None = None) -> str:
    for value in secret_env_values() if secrets is None else secrets:
        text = text.replace(value, REDACTED)
    return text


def redact(obj: Any, secrets: list[str] | None = None) -> Any:
    """A copy of a plain config tree with secret-looking keys and env secret values replaced.
    Keys that only *name* an environment variable (`*_env`) are kept: they hold no secret."""
    secrets = secret_env_values() if secrets is None else secrets
    if isinstance(obj, dict):
        return {
            key: REDACTED
            if SECRET_NAME.search(str(key)) and not str(key).endswith("_env") and obj[key] not in (None, "")
            else redact(value, secrets)
            for key, value in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [redact(value, secrets) for value in obj]
    if isinstance(obj, str):
        return scrub_text(obj, secrets)
    return obj
