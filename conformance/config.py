"""The vendor's target configuration (``vendor.toml``), validated with errors that name the key."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from conformance.core.errors import ConfigError
from conformance.transport.client import TargetSettings


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TargetSection(_Section):
    """Where the DUI is."""

    url: str | None = Field(default=None, pattern=r"^https?://")
    fhir_base: str = "/fhir"
    driver_base: str = "/driver/v1"


class TlsSection(_Section):
    """Server verification and client certificate (mTLS)."""

    verify: bool = True
    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None


class TimeoutSection(_Section):
    """Seconds."""

    connect: float = Field(default=5.0, gt=0)
    read: float = Field(default=30.0, gt=0)
    total: float = Field(default=60.0, gt=0)


class LimitSection(_Section):
    """Caps on what the harness accepts from the target."""

    max_body_bytes: int = Field(default=20 * 1024 * 1024, gt=0)


class AuthSection(_Section):
    """Credentials of the vendor's test account; prefer an environment variable to a token in the file."""

    bearer_token: str | None = None
    bearer_token_env: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)


class ManualSection(_Section):
    """Driver operations an assessor performs by hand in the DUI's own screens."""

    operations: list[str] = Field(default_factory=list)


class AccessSection(_Section):
    """Access rules: the assessor's habilitation matrix replaces the default one (and so the generated scenarios)."""

    habilitations: Path | None = None


class VendorConfig(_Section):
    """The whole ``vendor.toml``."""

    #: fixed loopback port per simulator (``insi = 9101``), so a vendor's DUI can be configured to call them
    simulators: dict[str, int] = Field(default_factory=dict)
    target: TargetSection = Field(default_factory=TargetSection)
    tls: TlsSection = Field(default_factory=TlsSection)
    timeouts: TimeoutSection = Field(default_factory=TimeoutSection)
    limits: LimitSection = Field(default_factory=LimitSection)
    auth: AuthSection = Field(default_factory=AuthSection)
    manual: ManualSection = Field(default_factory=ManualSection)
    access: AccessSection = Field(default_factory=AccessSection)

    def fixture_overrides(self) -> dict[str, Path]:
        """Data sets of fixtures/ this configuration replaces (``[access] habilitations``)."""
        return {"habilitations": self.access.habilitations} if self.access.habilitations else {}

    def token(self) -> str | None:
        """The bearer token, from the environment variable when one is named."""
        if self.auth.bearer_token_env:
            value = os.environ.get(self.auth.bearer_token_env)
            if not value:
                raise ConfigError(f"auth.bearer_token_env : la variable d'environnement "
                                  f"{self.auth.bearer_token_env} est vide ou absente")
            return value
        return self.auth.bearer_token

    def target_settings(self, url: str) -> TargetSettings:
        """Transport settings for ``url`` (the --target option wins over ``target.url``)."""
        token = self.token()
        headers = dict(self.auth.headers)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        verify: bool | str = str(self.tls.ca_bundle) if self.tls.ca_bundle and self.tls.verify else self.tls.verify
        cert = (str(self.tls.client_cert), str(self.tls.client_key)) if self.tls.client_cert else None
        return TargetSettings(
            base_url=url, fhir_base=self.target.fhir_base, driver_base=self.target.driver_base, verify=verify,
            client_cert=cert, connect_timeout=self.timeouts.connect, read_timeout=self.timeouts.read,
            total_timeout=self.timeouts.total, max_body_bytes=self.limits.max_body_bytes, headers=headers,
            secrets=tuple(v for v in (token, *self.auth.headers.values()) if v),
        )


def load_config(path: Path) -> VendorConfig:
    """Read and validate ``path``; relative file paths are taken from the file's folder."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path} : lecture impossible ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} : TOML invalide ({exc})") from None
    try:
        config = VendorConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError("\n".join(f"{path} : {_describe(e)}" for e in exc.errors())) from None
    tls = config.tls
    for key in ("ca_bundle", "client_cert", "client_key"):
        value: Path | None = getattr(tls, key)
        if value is not None:
            resolved = value if value.is_absolute() else (path.parent / value)
            if not resolved.is_file():
                raise ConfigError(f"{path} : tls.{key} : fichier introuvable ({resolved})")
            setattr(tls, key, resolved)
    if bool(tls.client_cert) != bool(tls.client_key):
        raise ConfigError(f"{path} : tls.client_cert et tls.client_key vont ensemble")
    matrix = config.access.habilitations
    if matrix is not None:
        resolved = matrix if matrix.is_absolute() else (path.parent / matrix)
        if not resolved.is_file():
            raise ConfigError(f"{path} : access.habilitations : fichier introuvable ({resolved})")
        config.access.habilitations = resolved
    return config


def _describe(error: Any) -> str:
    key = ".".join(str(p) for p in error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"clé inconnue « {key} »"
    if kind == "missing":
        return f"clé obligatoire « {key} » absente"
    if kind == "string_pattern_mismatch" and key == "target.url":
        return f"{key} : URL http:// ou https:// attendue (reçu {error['input']!r})"
    return f"{key} : {error['msg']} (reçu {error['input']!r})"
