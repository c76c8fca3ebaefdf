"""The one settings object; every option is declared here with its default and description."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """cityhub configuration, read from `CITYHUB_*` environment variables (and `.env` when present)."""

    model_config = SettingsConfigDict(env_prefix="CITYHUB_", env_file=".env", extra="ignore")

    var_dir: Path = Field(Path("var"), description="Folder for the SQLite file, uploads and the Parquet lake.")
    database_url: str = Field(
        "",
        description="SQLAlchemy URL; empty means SQLite at <var_dir>/cityhub.db. "
        "Use postgresql+psycopg://user@host:5432/db for PostgreSQL.",
    )
    secret_key: str = Field(
        "change-me-in-production-0123456789abcdef",
        description="Signs session cookies and CSRF tokens; derives the at-rest encryption key. Set in production.",
    )
    host: str = Field("127.0.0.1", description="Address `cityhub serve` binds to.")
    port: int = Field(8000, description="Port `cityhub serve` listens on.")
    workers: int = Field(1, description="Uvicorn worker processes for `cityhub serve`.")
    default_locale: Literal["zh_CN", "en"] = Field("zh_CN", description="UI language when the user has not chosen.")
    display_timezone: str = Field("Asia/Shanghai", description="Time zone pages display times in (storage is UTC).")
    max_body_bytes: int = Field(1024 * 1024, description="Largest accepted request body; larger answers 413.")
    upload_max_bytes: int = Field(
        200 * 1024 * 1024, description="Largest accepted body on upload routes (datastore tables, files)."
    )
    quality_task_days: int = Field(
        10, ge=1, le=120,
        description="Working days a unit has to resolve a quality task (整改任务) opened by a failing quality run.",
    )
    upload_max_rows: int = Field(
        2_000_000, description="Most data rows a CSV/XLSX table upload may hold; more is refused (422).")
    upload_max_unpacked_bytes: int = Field(
        1024 * 1024 * 1024, description="Largest total uncompressed size of an XLSX upload's parts; a workbook "
        "that unpacks to more (a zip bomb) is refused before it is read.")
    trusted_proxies: str = Field(
        "", description="Comma-separated IPs/CIDRs of reverse proxies whose X-Forwarded-For is believed (e.g. "
        "10.0.0.0/8,127.0.0.1). The client IP (audit, login lockout, portal and report rate limits) is then the "
        "rightmost address not in this list; from any other peer the header is ignored. Empty: never trusted.")
    egress_allowed_hosts: str = Field(
        "", description="Comma-separated hosts outbound calls (API resource proxies, webhooks, cloud endpoints) may "
        "reach although they resolve to loopback/private/link-local addresses, e.g. 127.0.0.1,s3.intranet.gov.cn. "
        "Public addresses need no entry; alarm webhooks may call only hosts listed here (or in the older "
        "ops_webhook_allowed_hosts, which is merged in).")
    push_cache: bool = Field(
        True, description="Cache identities (API tokens, session users) and the organisation tree in each server "
        "process, cleared by PostgreSQL notifications when they change (PostgreSQL only; off = every request asks "
        "the database).")
    login_max_failures: int = Field(5, description="Failed logins in a row before the account is locked.")
    login_lock_minutes: int = Field(15, description="How long a locked account stays locked.")
    session_max_age_s: int = Field(8 * 3600, description="Web session lifetime in seconds.")
    cookie_secure: bool = Field(False, description="Mark session cookies Secure (set behind HTTPS).")
    require_services: bool = Field(
        False, description="Tests fail instead of skipping when PostgreSQL/Mosquitto/Redis are absent (CI sets 1)."
    )
    test_postgres_url: str = Field(
        "postgresql+psycopg://127.0.0.1:5432/test",
        description="PostgreSQL database the test-suite uses as its admin connection.",
    )
    mqtt_url: str = Field("", description="MQTT broker, e.g. mqtt://127.0.0.1:1883; empty disables MQTT.")
    redis_url: str = Field("", description="Redis for cache and rate limits, e.g. redis://127.0.0.1:6379/0.")
    engine: Literal["duckdb", "spark"] = Field(
        "duckdb", description="Analytics engine: duckdb (embedded, the default) or spark (PySpark, the `spark` extra) "
        "— the same SQL over the Parquet lake either way.")
    analytics_export_s: int = Field(
        3600, ge=0, description="How often `make run` writes the device registry and ops facts to the Parquet lake "
        "(`cityhub compute lake-export --every`); 0 turns the schedule off.")
    analytics_schedule_s: int = Field(
        60, ge=0, description="How often `make run` looks for saved analyses whose cron schedule is due "
        "(`cityhub compute analysis-scheduler --every`); 0 turns scheduled analyses off.")
    spark_master: str = Field(
        "local[*]", description="Spark master when CITYHUB_ENGINE=spark: local[*] on this machine, or a cluster URL "
        "(spark://host:7077, yarn, k8s://…); the lake must then be on storage every executor sees at the same path.")
    demo_password: str = Field("", description="Password for demo users; empty generates one and prints it once.")
    log_level: str = Field("INFO", description="Python logging level.")
    access_log: bool = Field(True, description="One log line per HTTP request (logger cityhub.access): method, "
                             "path, status, duration in ms and request id. false turns it off.")
    bureau_code: str = Field(
        "cq-dsj", description="Code of the big-data bureau (reviews data, approves large cloud requests, sees every "
        "unit's scores) until a platform admin names one with `cityhub org bureau CODE`."
    )
    cloud_approval_threshold: float = Field(
        5000.0, description="Monthly cost (yuan) above which a cloud request also needs the bureau's approval."
    )
    connect_future_tolerance_s: int = Field(
        300, description="Telemetry timestamps later than receive time plus this many seconds are quarantined."
    )
    ingest_batch_size: int = Field(2000, description="Messages per ingest batch (the worker also flushes on time).")
    ingest_batch_ms: int = Field(200, description="Longest an ingest batch waits to fill before it is stored.")
    mqtt_client_id: str = Field(
        "", description="Stable MQTT client id of this ingest worker (persistent session); empty: derived from host."
    )
    mqtt_share_group: str = Field("cityhub-ingest", description="Shared-subscription group the ingest workers join.")
    mqtt_topic_prefix: str = Field(
        "cityhub/v1", description="Topic prefix; devices publish to <prefix>/devices/<device id>/telemetry."
    )
    connect_simulate_rate: float = Field(
        20.0, description="Points/s of the light simulated stream `make run` keeps going (0 disables it)."
    )
    portal_rate_limit: int = Field(
        300, description="Open-data portal: requests per minute per IP for anonymous callers (0 = no limit)."
    )
    portal_cache_ttl_s: int = Field(
        60, description="Open-data portal: seconds an anonymous read stays cached (0 = no cache); publishes clear it."
    )
    portal_sql_timeout_ms: int = Field(3000, description="Open-data portal: statement timeout of datastore_search_sql.")
    portal_sql_max_rows: int = Field(10000, description="Open-data portal: rows datastore_search_sql returns at most.")
    open_sql_role: str = Field(
        "cityhub_open", description="PostgreSQL: the login role datastore_search_sql runs as. It may read only the "
        "views of schema open_data (`cityhub db roles` creates it); without it public SQL answers 503.")
    open_sql_database_url: str = Field(
        "", description="PostgreSQL: URL of the public-SQL connection; empty = the database URL with the user "
        "replaced by open_sql_role (and the password by open_sql_password).")
    open_sql_password: str = Field("", description="PostgreSQL: password of open_sql_role (empty for trust/peer auth).")
    portal_site_title: str = Field(
        "城市公共数据开放平台", description="Open-data portal: site title (status_show, DCAT)."
    )

    ops_webhook_allowed_hosts: str = Field(
        "", description="Older name, merged into egress_allowed_hosts: comma-separated hosts alarm webhooks may "
        "call (e.g. hooks.example.gov.cn,127.0.0.1); with both empty, webhooks may call none.")
    ops_report_limit_per_hour: int = Field(5, description="Citizen reports accepted per client IP and hour.")
    ops_photo_max_bytes: int = Field(5 * 1024 * 1024, description="Largest citizen-report photo or attachment.")
    ops_fallback_org_code: str = Field(
        "cq-cgj", description="Department incidents go to when no routing rule matches (empty: stay new).")
    ops_tick_interval_s: float = Field(5.0, description="Seconds between rule-timer, SLA and outbox passes.")
    ops_evaluation: Literal["auto", "inline", "queue"] = Field(
        "auto", description="Where rules run on stored telemetry: `inline` in the ingest transaction, `queue` in "
        "`cityhub ops worker` through a transactional queue table (PostgreSQL only), `auto` = queue on PostgreSQL, "
        "inline on SQLite.")
    ops_forecast_refit_s: float = Field(
        3600.0, ge=60, description="Seconds after which a forecast rule's series model is refitted (ops worker).")
    ops_screen_refresh_s: float = Field(5.0, description="Seconds between live updates of the 大屏 (SSE).")

    compute_upstream_allowed_hosts: str = Field(
        "", description="Comma-separated hosts the capability hub's gateway may forward to (component versions "
        "with an upstream endpoint); only these, private addresses included when listed, e.g. "
        "api.dept.gov.cn,127.0.0.1. Empty: no upstream component can be registered or called.")
    compute_upstream_timeout_s: float = Field(10.0, description="Gateway: seconds an upstream call may take.")
    compute_upstream_retries: int = Field(
        2, description="Gateway: extra attempts for idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE) after a "
        "connection failure, a timeout or a 502/503/504.")
    compute_breaker_failures: int = Field(
        5, description="Gateway: consecutive failures of one upstream that open its circuit.")
    compute_breaker_cooldown_s: float = Field(
        30.0, description="Gateway: seconds an open circuit refuses calls before one trial call is let through.")
    compute_max_request_bytes: int = Field(1024 * 1024, description="Gateway: largest request body forwarded.")
    compute_max_response_bytes: int = Field(
        8 * 1024 * 1024, description="Gateway: largest upstream answer passed back (a larger one is a 502).")
    compute_meter_flush_s: float = Field(
        1.0, description="Metering: seconds between flushes of buffered call records to the database.")
    compute_meter_batch: int = Field(
        2000, description="Metering: buffered call records that trigger a flush before the interval.")
    compute_job_concurrency: int = Field(
        2, ge=1, le=64, description="Batch jobs: how many of one unit's jobs run at once (the rest wait queued).")
    compute_job_workers: int = Field(
        1, ge=0, le=64, description="Batch jobs: worker processes `make run` starts (`cityhub compute job-worker "
        "--processes N`); 0: none.")
    compute_job_max_rows: int = Field(
        50_000, ge=1, le=5_000_000, description="Batch jobs: most input rows (or telemetry points) one job reads.")
    compute_demo_upstream_port: int = Field(
        8701, description="The demo's stub department system (a licence registry answering the hub's upstream "
        "component) listens on 127.0.0.1 at this port, started by `make run`; 0: not started.")

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file under var_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'cityhub.db').as_posix()}"

    @property
    def lake_dir(self) -> Path:
        """Parquet files for analytics and archived telemetry."""
        return self.var_dir / "lake"


@lru_cache
def get_settings() -> Settings:
    """Process-wide settings (tests call `get_settings.cache_clear()` after changing the environment)."""
    return Settings()
