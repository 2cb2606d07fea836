"""Worker and client configuration: ``baton.toml`` plus ``BATON_*`` environment variables.

Sources, highest priority first: arguments given in code (and CLI options), ``BATON_*``
environment variables (nested values with ``__``: ``BATON_PROFILES__default__base_url=...``),
then the TOML file named by ``BATON_CONFIG`` (default ``./baton.toml`` when it exists), then the
defaults below. The worker's configuration is where model profiles (URLs, API-key variables,
prices, timeouts, fallback) and tool modules live: a team and a run only name them. See
``docs/configuration.md``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from baton.approvals import ApprovalAuthority
from baton.budgets import TenantBudget
from baton.mcp_servers import McpServerConfig, check_server_name
from baton.specs import ModelProfile

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_FILE",
    "ApprovalService",
    "Approver",
    "BatonSettings",
    "EmbeddingsSettings",
    "config_file",
]

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


class Approver(BaseModel):
    """A person (or an approvals service acting for people) who may decide approvals: the
    public keys their decisions are signed with (several while a key is rotated)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    public_keys: list[str] = Field(default_factory=list)


class ApprovalService(BaseModel):
    """A service that authenticates people itself (a web console behind the deployment's
    login) and signs their decisions with its own key: for whom it may sign."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    public_keys: list[str] = Field(default_factory=list)
    may_sign_for: list[str] = Field(default_factory=lambda: ["*"])  # approvers or groups


class EmbeddingsSettings(BaseModel):
    """An OpenAI-compatible ``/v1/embeddings`` endpoint: long-term memory is then recalled by
    meaning as well as by text (docs/memory.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None = None  # None: the embedded scripted server (model_server_url)
    model: str = "baton-embed"
    api_key_env: str | None = None  # the variable's name; the key stays in the environment
    timeout_s: float = Field(default=30.0, gt=0)


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
    mcp_servers: dict[str, McpServerConfig] = Field(
        default_factory=dict, description="MCP servers whose tools the worker serves as "
        "SERVER__TOOL ([mcp_servers.NAME]: command or url, tools, effect, approval, ...)")
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
        "how long a retry waits before taking over from a crashed attempt (on the SQLite "
        "ledger, not when the attempt's worker process is known to have ended)")
    memory_url: str | None = Field(
        default=None, description="long-term memory: sqlite://PATH (default: sqlite:// + "
        "HOME/memory.sqlite; one host) or postgresql://USER:PASSWORD@HOST:PORT/DB (any hosts)")
    embeddings: EmbeddingsSettings | None = Field(
        default=None, description="an OpenAI-compatible embeddings endpoint; none: memories are "
        "recalled by text search alone")
    tenant_budgets: dict[str, TenantBudget] = Field(
        default_factory=dict, description="worker: tokens and USD per day/month per tenant, "
        "enforced across every run and worker ('*': every tenant without its own entry)")
    approvers: dict[str, Approver] = Field(
        default_factory=dict, description="worker: who may decide approvals, with public keys")
    approver_groups: dict[str, list[str]] = Field(
        default_factory=dict, description="worker: group name → approvers (policies name groups)")
    approval_services: dict[str, ApprovalService] = Field(
        default_factory=dict, description="worker: services that sign decisions for the people "
        "they authenticated (e.g. the web console)")
    allow_unsigned_decisions: bool = Field(
        default=False, description="worker: accept decisions without a signature (development "
        "only: anyone with access to the namespace could then decide as anyone)")
    codec_keys: dict[str, SecretStr] = Field(
        default_factory=dict, description="payload encryption keys, key id → base64 AES-256 key "
        "(BATON_CODEC_KEYS as JSON; from the environment or codec_keys_file, never a team)")
    codec_keys_file: Path | None = Field(
        default=None, description="a JSON file of codec keys (key id → base64), instead of env")
    codec_key_id: str | None = Field(
        default=None, description="the key that encrypts (default: the only or first key)")
    codec_server_port: int = Field(default=8234, description="`baton up`: the codec server")
    console_host: str = Field(default="127.0.0.1", description="the web console's interface")
    console_port: int = Field(default=8235, description="the web console (`baton console`, "
                              "`baton up`)")
    console_user_header: str | None = Field(
        default=None, description="console: the request header an authenticating proxy sets to "
        "the signed-in person (e.g. X-Forwarded-User); the console must then be reachable only "
        "through that proxy")
    console_key_file: Path | None = Field(
        default=None, description="console: its Ed25519 private key (PEM); it signs the decisions "
        "of the people it authenticated as the approvals service 'console'")
    codec_server_token: SecretStr | None = Field(
        default=None, description="bearer token the codec server requires (none: loopback use)")
    codec_cors_origins: list[str] = Field(
        default_factory=list, description="origins (Temporal UI URLs) the codec server answers")
    temporal_api_key: SecretStr | None = Field(
        default=None, description="API key for Temporal Cloud (sent as a bearer token)")
    temporal_tls: bool = Field(default=False, description="connect to Temporal over TLS")
    temporal_tls_ca_file: Path | None = Field(
        default=None, description="CA certificate of the Temporal server (PEM)")
    temporal_tls_cert_file: Path | None = Field(
        default=None, description="client certificate for mTLS (PEM)")
    temporal_tls_key_file: Path | None = Field(
        default=None, description="client private key for mTLS (PEM)")
    temporal_tls_server_name: str | None = Field(
        default=None, description="the server name to verify (default: the address's host)")
    deployment_name: str | None = Field(
        default=None, description="worker versioning: the Worker Deployment this worker belongs "
        "to (with build_id; runs stay pinned to the version that started them)")
    build_id: str | None = Field(
        default=None, description="worker versioning: this worker's version (e.g. a git sha)")
    decider: str | None = Field(default=None, description="CLI: who you are when you decide")
    decider_key_file: Path | None = Field(
        default=None, description="CLI: your Ed25519 private key (PEM); decisions are signed")
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

    @field_validator("mcp_servers")
    @classmethod
    def _server_names(cls, servers: dict[str, McpServerConfig]) -> dict[str, McpServerConfig]:
        for name in servers:
            check_server_name(name)
        return servers

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

    def tenant_budget(self, tenant: str) -> TenantBudget | None:
        """The budget the operator set for ``tenant`` (or for every tenant, ``*``)."""
        return self.tenant_budgets.get(tenant) or self.tenant_budgets.get("*")

    @property
    def encryption_keys(self) -> dict[str, str]:
        """Codec keys (key id → base64) from ``codec_keys`` and ``codec_keys_file``."""
        keys = {key_id: secret.get_secret_value() for key_id, secret in self.codec_keys.items()}
        if self.codec_keys_file is not None:
            loaded = json.loads(self.codec_keys_file.read_text(encoding="utf-8"))
            if not isinstance(loaded, dict):
                raise ValueError(f"{self.codec_keys_file}: a JSON object of key id → key")
            keys = {**{str(k): str(v) for k, v in loaded.items()}, **keys}
        return keys

    @property
    def approval_authority(self) -> ApprovalAuthority:
        return ApprovalAuthority(
            keys={name: tuple(a.public_keys) for name, a in self.approvers.items()},
            groups={name: tuple(members) for name, members in self.approver_groups.items()},
            allow_unsigned=self.allow_unsigned_decisions,
            services={name: (tuple(s.public_keys), tuple(s.may_sign_for))
                      for name, s in self.approval_services.items()})

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
    def resolved_memory_url(self) -> str:
        return self.memory_url or f"sqlite://{self.home / 'memory.sqlite'}"

    @property
    def temporal_ui_url(self) -> str:
        host = self.temporal_address.rsplit(":", 1)[0]
        return f"http://{host}:{self.ui_port}"
