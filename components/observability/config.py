"""Validated settings of the monitoring stack and of one service's monitoring.

`PrometheusStackSpec` is what the PrometheusStack component installs; `ServiceMonitoringSpec`
is what the ServiceMonitoring component builds for one GoService; `MonitoringConfig` is the
`monitoring` section of the stack config, holding both plus their on/off switches.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from components import defaults
from components.config import DnsLabel, Model, NamespaceName, SecretName, StorageClassName, ResourcesSpec, cidr, digest_pins, quantity, validate_checked
from components.errors import ConfigError
from components.observability import charts, images

# Prometheus durations ("30s", "1h30m", "15d"); see prometheus/common model.ParseDuration.
PROMETHEUS_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
DURATION_SECONDS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
# Prometheus --storage.tsdb.retention.size units (base-2 despite the names).
RETENTION_SIZE = re.compile(r"^[1-9]\d{0,5}(B|KB|MB|GB|TB|PB|EB)$")
HELM_REPOSITORY = re.compile(r"^(https?|oci)://[A-Za-z0-9.-]+(:\d+)?(/[A-Za-z0-9._~%/-]*)?$")
RUNBOOK_URL = re.compile(r"^https?://[^\s\"'<>]+$")

DEFAULT_RUNBOOK_BASE_URL = "https://github.com/gosvc/gosvc/blob/main/README.md"
"""Alerts link to `<base>#<alert name in lower case>`: the README's Runbooks section."""


def duration_seconds(text: str) -> float:
    """Seconds in a Prometheus duration; ValueError when it is not one or is zero."""
    match = PROMETHEUS_DURATION.match(text)
    if not text or not match:
        raise ValueError("must be a Prometheus duration such as '30s', '1m' or '15d'")
    seconds = sum(int(n) * unit for n, unit in zip(match.groups(), DURATION_SECONDS) if n)
    if seconds <= 0:
        raise ValueError("must be longer than zero")
    return seconds


def _duration(value: str) -> str:
    duration_seconds(value)
    return value


class AlertThresholds(Model):
    """When the service's alerts fire; defaults suit a latency-sensitive HTTP API."""

    error_ratio: float = Field(0.05, gt=0, lt=1, allow_inf_nan=False)
    latency_p99_seconds: float = Field(0.5, gt=0, le=600, allow_inf_nan=False)
    restarts: int = Field(3, ge=1, le=1000)
    memory_percent: int = Field(90, ge=1, le=100)
    hpa_maxed_minutes: int = Field(15, ge=1, le=1440)


class MonitoringSettings(Model):
    """How one service is scraped and alerted on, independent of which service it is."""

    scrape_interval: str = "30s"
    scrape_timeout: str = "10s"
    alerts: AlertThresholds = AlertThresholds()
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL
    dashboard: bool = True

    @field_validator("scrape_interval", "scrape_timeout")
    @classmethod
    def _scrape(cls, value: str) -> str:
        return _duration(value)

    @field_validator("runbook_base_url")
    @classmethod
    def _runbook(cls, value: str) -> str:
        if not RUNBOOK_URL.match(value):
            raise ValueError("must be an http(s) URL without spaces or quotes")
        return value.rstrip("#")

    def check(self, prefix: str = "") -> None:
        """Cross-field rules; `prefix` is the dotted path of this model in the caller's tree."""
        if duration_seconds(self.scrape_timeout) > duration_seconds(self.scrape_interval):
            raise ConfigError(
                f"{prefix}scrape_timeout",
                self.scrape_timeout,
                f"must be at most {prefix}scrape_interval ({self.scrape_interval}); Prometheus refuses a timeout longer than the interval",
            )


class ServiceMonitoringSpec(MonitoringSettings):
    """Everything ServiceMonitoring needs, validated; see `ServiceMonitoringArgs` for each field."""

    service_name: DnsLabel
    namespace: NamespaceName = defaults.NAMESPACE
    instance: DnsLabel | None = None
    hpa_enabled: bool = True

    @property
    def selector_instance(self) -> str:
        """app.kubernetes.io/instance of the GoService: its component name, by default the service name."""
        return self.instance or self.service_name


class PrometheusResources(ResourcesSpec):
    """Prometheus's own defaults: no CPU limit (throttling stalls rule evaluation), memory capped."""

    cpu_request: str = "200m"
    cpu_limit: str | None = None
    memory_request: str = "512Mi"
    memory_limit: str | None = "1Gi"


class PrometheusSpec(Model):
    """The Prometheus server: replicas, retention, storage and resources."""

    replicas: int = Field(1, ge=1, le=10)
    retention: str = "10d"
    retention_size: str | None = None
    storage_size: str | None = None
    resources: PrometheusResources = PrometheusResources()

    @field_validator("retention")
    @classmethod
    def _retention(cls, value: str) -> str:
        return _duration(value)

    @field_validator("retention_size")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value is not None and not RETENTION_SIZE.match(value):
            raise ValueError("must be a Prometheus size such as '45GB' (units B, KB, MB, GB, TB, PB, EB)")
        return value

    @field_validator("storage_size")
    @classmethod
    def _storage(cls, value: str | None) -> str | None:
        if value is not None:
            quantity(value)
        return value


class AlertmanagerSpec(Model):
    """Alertmanager: replicas (they gossip to deduplicate) and optional storage for silences."""

    replicas: int = Field(1, ge=1, le=10)
    storage_size: str | None = None

    @field_validator("storage_size")
    @classmethod
    def _storage(cls, value: str | None) -> str | None:
        if value is not None:
            quantity(value)
        return value


GENERATED_ADMIN_SECRET = "grafana-admin"
"""The Secret PrometheusStack writes Grafana's generated admin login to, unless one is handed in."""


class PrometheusStackSpec(Model):
    """Everything PrometheusStack needs, validated; see `PrometheusStackArgs` for each field."""

    namespace: NamespaceName = defaults.MONITORING_NAMESPACE
    create_namespace: bool = True
    helm_repository: str = charts.DEFAULT_REPOSITORY
    storage_class: StorageClassName | None = None
    prometheus: PrometheusSpec = PrometheusSpec()
    alertmanager: AlertmanagerSpec = AlertmanagerSpec()
    adapter_replicas: int = Field(1, ge=1, le=10)
    node_exporter: bool = True
    grafana: bool = True
    api_server_cidr: str = "0.0.0.0/0"
    image_digests: list[str] = []
    resolve_digests: bool = False
    grafana_admin_secret: SecretName | None = None

    @property
    def admin_secret(self) -> str:
        """The Secret Grafana reads its admin login from: the given one, else the one the component generates."""
        return self.grafana_admin_secret or GENERATED_ADMIN_SECRET

    @field_validator("api_server_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        return cidr(value)

    @field_validator("image_digests")
    @classmethod
    def _digests(cls, value: list[str]) -> list[str]:
        seen = set()
        for ref, (repository, _) in zip(value, digest_pins(value, images.REPOSITORIES)):
            if repository in seen:
                raise ValueError(f"{ref!r}: {repository} is pinned twice")
            seen.add(repository)
        return value

    @field_validator("helm_repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        if not HELM_REPOSITORY.match(value):
            raise ValueError("must be a Helm repository URL (https://...) or an OCI registry path (oci://...)")
        return value.rstrip("/")

    def check(self, prefix: str = "") -> None:
        """Cross-field rules; `prefix` is the dotted path of this model in the caller's tree."""
        self.prometheus.resources.check(f"{prefix}prometheus.resources")
        if not self.grafana and self.grafana_admin_secret is not None:
            raise ConfigError(
                f"{prefix}grafana_admin_secret",
                self.grafana_admin_secret,
                f"names Grafana's login Secret, but {prefix}grafana is false; turn Grafana on or leave the Secret unset",
            )


class MonitoringConfig(Model):
    """The stack config's `monitoring` section: the service-side wiring and the cluster stack, each switchable."""

    service_enabled: bool = True
    service: MonitoringSettings = MonitoringSettings()
    stack_enabled: bool = True
    stack: PrometheusStackSpec = PrometheusStackSpec()


def parse_service_monitoring(raw: dict[str, Any], where: str) -> ServiceMonitoringSpec:
    return validate_checked(ServiceMonitoringSpec, raw, where)


def parse_prometheus_stack(raw: dict[str, Any], where: str) -> PrometheusStackSpec:
    return validate_checked(PrometheusStackSpec, raw, where)


def parse_monitoring(raw: dict[str, Any], where: str) -> MonitoringConfig:
    """The `monitoring` stack section, with the cross-field rules of both halves applied."""
    return validate_checked(MonitoringConfig, raw, where, lambda c: c.service.check("service."), lambda c: c.stack.check("stack."))


