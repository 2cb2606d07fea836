"""Worker and client configuration: ``baton.toml`` plus ``BATON_*`` environment variables.

Sources, highest priority first: arguments given in code (and CLI options), ``BATON_*``
environment variables (nested values with ``__``: ``BATON_PROFILES__default__base_url=...``),
then the TOML file named by ``BATON_CONFIG`` (default ``./baton.toml`` when it exists), then the
defaults below. The worker's configuration is where model profiles (URLs, API-key variables,
prices, timeouts, fallback) and tool modules live: a team and a run only name them. See
``docs/configuration.md``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from baton.specs import ModelProfile

__all__ = ["CONFIG_ENV", "DEFAULT_CONFIG_FILE", "BatonSettings", "config_file"]

CONFIG_ENV = "BATON_CONFIG"
DEFAULT_CONFIG_FILE = Path("baton.toml")


def config_file() -> Path | None:
    """The TOML file settings are read from: ``$BATON_CONFIG`` (which must exist) or
    ``./baton.toml`` when present."""
    named = os.environ.get(CONFIG_ENV)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{CONFIG_ENV}={named}: no such configuration file")
        return path
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


class BatonSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BATON_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = config_file()
        toml = () if path is None else (TomlConfigSettingsSource(settings_cls, toml_file=path),)
        return (init_settings, env_settings, *toml)

    home: Path = Field(default=Path(".baton"), description="state directory (SQLite files, logs)")
    temporal_address: str = Field(default="127.0.0.1:7233", description="Temporal frontend")
    namespace: str = "default"
    task_queue: str = "baton"
    temporal_port: int = Field(default=7233, description="`baton up`: dev server frontend port")
    ui_port: int = Field(default=8233, description="`baton up`: Temporal UI port")
    model_server_host: str = "127.0.0.1"
    model_server_port: int = Field(default=8765, description="scripted model server port")
    model_server_url: str | None = Field(
        default=None, description="base URL for profiles without base_url (default: the embedded "
        "scripted server, http://HOST:PORT/v1)"
    )
    tool_modules: list[str] = Field(
        default_factory=list, description="modules the worker imports; their @tool functions are "
        "the tools it serves")
    profiles: dict[str, ModelProfile] = Field(
        default_factory=lambda: {"default": ModelProfile()},
        description="the model profiles the worker serves, by name (agents name them)")
    ledger_path: Path | None = Field(default=None, description="default: HOME/ledger.sqlite")
    ledger_url: str | None = Field(
        default=None, description="the idempotency ledger and read cache: sqlite://PATH (default: "
        "sqlite:// + ledger_path; one host) or postgresql://USER:PASSWORD@HOST:PORT/DB (workers "
        "on any hosts)")
    ledger_lease_s: float = Field(
        default=30.0, gt=0, description="how long a write call's claim lives without renewal: "
        "how long a retry waits before taking over from a crashed attempt")
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "info"
    max_concurrent_activities: int = 100
    max_concurrent_workflow_tasks: int = 100
    prefix_cache_size: int = Field(default=512, description="conversations cached per worker")
    max_tool_result_chars: int = Field(
        default=16_000, description="longer tool results are truncated for the model"
    )
    max_model_output_chars: int = Field(
        default=200_000, description="longer model text or tool arguments are cut (payload guard)"
    )
    trace_exporter: Literal["none", "console", "otlp"] = "none"
    otlp_endpoint: str | None = None
    trace_content: bool = False
    otlp_headers: str | None = Field(
        default=None, description="headers for OTLP export, OTEL format: "
        "'Authorization=Basic%20<base64>,x-tenant=acme' (Langfuse: its public:secret key pair)"
    )
    trace_temporal_spans: bool = Field(
        default=True, description="also emit Temporal's StartWorkflow/RunWorkflow/RunActivity spans"
    )
    metrics_exporter: Literal["none", "console", "otlp"] = Field(
        default="none", description="Baton and Temporal metrics via OpenTelemetry (otlp: "
        "OTLP_ENDPOINT/v1/metrics)"
    )
    metrics_prometheus: str | None = Field(
        default=None, description="HOST:PORT serving Temporal's worker metrics at /metrics"
    )

    @model_validator(mode="after")
    def _fallbacks_resolve(self) -> BatonSettings:
        for start, profile in self.profiles.items():
            seen, name = [start], profile.fallback
            while name is not None:
                if name not in self.profiles:
                    raise ValueError(f"model profile {seen[-1]!r} falls back to {name!r}, which "
                                     f"is not configured (have: {sorted(self.profiles)})")
                if name in seen:
                    raise ValueError("model profiles fall back in a cycle: "
                                     + " -> ".join([*seen, name]))
                seen.append(name)
                name = self.profiles[name].fallback
        return self

    def profile(self, name: str) -> ModelProfile:
        """A served profile by name; KeyError names the ones that are served."""
        try:
            return self.profiles[name]
        except KeyError:
            raise KeyError(f"model profile {name!r} is not served by this worker "
                           f"(served: {', '.join(sorted(self.profiles))})") from None

    @property
    def resolved_model_server_url(self) -> str:
        return self.model_server_url or (
            f"http://{self.model_server_host}:{self.model_server_port}/v1"
        )

    @property
    def resolved_ledger_path(self) -> Path:
        return self.ledger_path or self.home / "ledger.sqlite"

    @property
    def resolved_ledger_url(self) -> str:
        return self.ledger_url or f"sqlite://{self.resolved_ledger_path}"

    @property
    def temporal_ui_url(self) -> str:
        host = self.temporal_address.rsplit(":", 1)[0]
        return f"http://{host}:{self.ui_port}"
