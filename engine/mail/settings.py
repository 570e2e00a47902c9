"""SMTP settings from the environment or smtp.toml, checked at start-up.

Without ARREARS_SMTP_HOST (or a `host` in smtp.toml) mail goes to the outbox folder.
When SMTP is configured with a user, the password must come from
ARREARS_SMTP_PASSWORD or the OS keyring: service "arrears-guard" with the user name
as account, else the entry yagmail itself uses (service "yagmail", stored with
`yagmail.register(user, password)`). A missing password stops start-up with a message, instead of failing each
letter later on a headless server.
"""

from __future__ import annotations

import difflib
import logging
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.findings import EngineError, Finding

log = logging.getLogger(__name__)

KEYRING_SERVICE = "arrears-guard"
YAGMAIL_KEYRING_SERVICE = "yagmail"
# The keys smtp.toml may set, each also read from ARREARS_SMTP_<KEY>.
KEYS = ("host", "port", "user", "starttls", "ssl", "timeout", "resend_uncertain")
PORTS = range(1, 65536)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int = 587
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    ssl: bool = False
    timeout: float = 30.0  # seconds, for the connect and for each SMTP reply
    retries: int = 3  # attempts for a "try later" (4xx) reply before the letter waits
    backoff: float = 2.0  # seconds before the first retry, doubled for each next one
    max_backoff: float = 30.0
    # Send a letter whose delivery is uncertain once more, with the same Message-ID.
    resend_uncertain: bool = False


def _setting_error(where: str, name: str, value: object, expected: str) -> EngineError:
    return EngineError(
        Finding(
            where=where,
            message=f"the SMTP setting {name} is {value!r}, which is not {expected}.",
            fix=f"Set {name} to {expected}.",
            code="smtp-setting-invalid",
        )
    )


def _to_bool(value: object, name: str, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _setting_error(where, name, value, "true or false")


def _to_number(value: object, name: str, where: str, kind: type) -> Any:
    expected = "a positive whole number" if kind is int else "a positive number"
    if isinstance(value, bool):
        raise _setting_error(where, name, value, expected)
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise _setting_error(where, name, value, expected) from None
    if number <= 0:
        raise _setting_error(where, name, value, expected)
    return number


def _to_port(value: object, where: str) -> int:
    port = _to_number(value, "port", where, int)
    if port not in PORTS:
        raise _setting_error(where, "port", value, "a port number from 1 to 65535")
    return port


def _check_keys(values: Mapping[str, Any], where: str) -> None:
    """Raise EngineError for a key of smtp.toml that no setting reads."""
    for key in values:
        if key in KEYS:
            continue
        if key == "password":
            fix = ("Remove the password from the file. Set ARREARS_SMTP_PASSWORD, or "
                   f"store it with `keyring set {KEYRING_SERVICE} USER`.")
        else:
            close = difflib.get_close_matches(key, KEYS, n=1)
            fix = (f"Rename it to {close[0]}." if close
                   else f"Remove it. The settings are {', '.join(KEYS)}.")
        raise EngineError(
            Finding(
                where=where,
                message=f"the SMTP configuration sets {key!r}, which is not a setting.",
                fix=fix,
                code="smtp-setting-unknown",
            )
        )


def _read_config(config_path: Path | None) -> dict[str, Any]:
    if config_path is None or not config_path.is_file():
        return {}
    try:
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise EngineError(
            Finding(
                where=str(config_path),
                message=f"the SMTP configuration cannot be read: {error}.",
                fix="Correct the TOML syntax.",
                code="smtp-config-invalid",
            )
        ) from error
    return dict(data.get("smtp", data))


def _password_for(user: str, env: Mapping[str, str], where: str) -> str:
    if env.get("ARREARS_SMTP_PASSWORD"):
        return env["ARREARS_SMTP_PASSWORD"]
    # Imported here because it loads its backends on import, and only an SMTP
    # login needs it.
    import keyring
    import keyring.errors

    for service in (KEYRING_SERVICE, YAGMAIL_KEYRING_SERVICE):
        try:
            password = keyring.get_password(service, user)
        except keyring.errors.KeyringError as error:
            log.info("no usable OS keyring: %s", error)
            break
        if password:
            return password
    raise EngineError(
        Finding(
            where=where,
            message=f"SMTP is configured for user {user!r} but no password was found.",
            fix="Set ARREARS_SMTP_PASSWORD, or store the password with "
            f"`keyring set {KEYRING_SERVICE} {user}`.",
            code="smtp-password-missing",
        )
    )


def load_smtp_settings(
    env: Mapping[str, str], config_path: Path | None
) -> SmtpSettings | None:
    """Return the SMTP settings, or None when SMTP is not configured (outbox only).

    Environment variables ARREARS_SMTP_HOST, _PORT, _USER, _PASSWORD, _STARTTLS, _SSL,
    _TIMEOUT and _RESEND_UNCERTAIN take precedence over the same keys in smtp.toml.
    Raise EngineError when a value is invalid or the password is missing.
    """
    config = _read_config(config_path)
    values = {key.lower(): value for key, value in config.items()}
    _check_keys(values, str(config_path))
    for key in KEYS:
        if env.get(f"ARREARS_SMTP_{key.upper()}"):
            values[key] = env[f"ARREARS_SMTP_{key.upper()}"]
    host = str(values.get("host") or "").strip()
    if not host:
        return None

    where = str(config_path) if config else "environment ARREARS_SMTP_*"
    use_ssl = _to_bool(values.get("ssl", False), "ssl", where)
    user = str(values.get("user") or "").strip() or None
    settings = SmtpSettings(
        host=host,
        port=_to_port(values.get("port", 465 if use_ssl else 587), where),
        user=user,
        password=_password_for(user, env, where) if user else None,
        starttls=_to_bool(values.get("starttls", not use_ssl), "starttls", where),
        ssl=use_ssl,
        timeout=_to_number(values.get("timeout", 30), "timeout", where, float),
        resend_uncertain=_to_bool(
            values.get("resend_uncertain", False), "resend_uncertain", where
        ),
    )
    log.info(
        "SMTP configured: %s:%s user %s", settings.host, settings.port, settings.user
    )
    return settings
