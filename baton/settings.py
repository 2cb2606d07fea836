"""Settings from ``BATON_*`` environment variables (pydantic-settings).

Nested values use ``__``: ``BATON_PROFILES__default__base_url=https://api.openai.com/v1``
overrides the ``default`` model profile of every team the worker runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["BatonSettings"]


class BatonSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BATON_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

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
    tool_modules: list[str] = Field(default_factory=list, description="modules the worker imports")
    profiles: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="model profile fields overriding team profiles by name"
    )
    ledger_path: Path | None = Field(default=None, description="default: HOME/ledger.sqlite")
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

    @property
    def resolved_model_server_url(self) -> str:
        return self.model_server_url or (
            f"http://{self.model_server_host}:{self.model_server_port}/v1"
        )

    @property
    def resolved_ledger_path(self) -> Path:
        return self.ledger_path or self.home / "ledger.sqlite"

    @property
    def temporal_ui_url(self) -> str:
        host = self.temporal_address.rsplit(":", 1)[0]
        return f"http://{host}:{self.ui_port}"
