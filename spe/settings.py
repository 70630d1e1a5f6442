"""Settings, read from the environment (prefix ``SPE_``) or a ``.env`` file.

:class:`Settings` is the one reader: every ``SPE_*`` variable is a field of it, with its
default and its help text; ``spe config reference`` prints the configuration reference from
these declarations. Code reads the settings of its own area, a typed section
(``settings.database``, ``settings.storage``, ``settings.keys``, ``settings.kubernetes``, …):
each section names its fields as that area calls them and takes each from the variable it
names in ``validation_alias`` (defaults that depend on ``SPE_DATA_DIR`` already resolved), so
no area translates the settings again. Settings are read lazily through
:func:`get_settings`, never at import time. The embedded default needs no configuration:
SQLite and every key file under ``SPE_DATA_DIR`` (``./.spe``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPE_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = Field(
        "development",
        description="`production` requires PostgreSQL, secure cookies and every key file "
        "present (none is ever created there).",
    )
    data_dir: Path = Field(
        Path(".spe"),
        description="Directory for the embedded default: SQLite database, key files, "
        "local object storage and local workspaces.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the database, e.g. "
        "`postgresql+psycopg://spe@db/spe`. Default: SQLite at `<data_dir>/spe.db`.",
    )
    database_admin_url: str | None = Field(
        None,
        description="Privileged database URL used only for migrations and audit purges "
        "(PostgreSQL). Default: `database_url`.",
    )
    database_app_role: str | None = Field(
        None,
        description="PostgreSQL role the application runs as; migrations grant it only "
        "INSERT and SELECT on the audit tables.",
    )
    database_signer_role: str | None = Field(
        None,
        description="PostgreSQL role the audit checkpoint signer runs as (the role of "
        "`SPE_AUDIT_SIGNER_DATABASE_URL`); migrations grant it only SELECT on the audit tables "
        "and INSERT on `audit_checkpoint`, and take INSERT on `audit_checkpoint` from "
        "`SPE_DATABASE_APP_ROLE`. Unset: the signer runs as the application role.",
    )
    database_pool_size: int = Field(
        20, gt=0, description="Database connections each process keeps open.",
    )
    database_pool_overflow: int = Field(
        60, ge=0,
        description="Connections a process may open beyond `database_pool_size` under load "
        "(each API worker thread may need two). PostgreSQL's `max_connections` must cover "
        "the sum over the API replicas and the controller.",
    )
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="Base URL at which users and workspaces reach the control plane.",
    )
    host: str = Field("127.0.0.1", description="Address `spe serve` listens on.")
    port: int = Field(8000, description="Port `spe serve` listens on.")
    token_default_ttl_hours: float = Field(
        8, gt=0, description="Lifetime of a personal API token when none is given."
    )
    token_max_ttl_days: int = Field(
        90, gt=0, description="Longest lifetime a personal API token may be given."
    )
    telemetry_exporter: Literal["none", "console", "otlp"] = Field(
        "none", description="Where OpenTelemetry spans go: nowhere, stdout, or OTLP/HTTP."
    )
    otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP traces endpoint when `telemetry_exporter=otlp`."
    )
    audit_signing_key_path: Path | None = Field(
        None,
        description="Ed25519 PEM key signing audit checkpoints, read only by the checkpoint "
        "signer (`spe audit signer`, a child process of `spe up`), never by the API; keep it "
        "outside the database (a Secret of its own). Default: "
        "`<data_dir>/keys/audit-ed25519.pem`, created if absent (development).",
    )
    audit_public_key_path: Path | None = Field(
        None,
        description="PEM public key verifying audit checkpoints: what the API reads instead "
        "of the signing key. Default: `<data_dir>/keys/audit-ed25519.pub.pem`, written by the "
        "checkpoint signer in development; mounted beside the API's keys in production.",
    )
    audit_signer_database_url: str | None = Field(
        None,
        description="SQLAlchemy URL the audit checkpoint signer connects with (`spe audit "
        "signer`, and `spe audit checkpoint`/`export`/`verify` run beside it), as "
        "`SPE_DATABASE_SIGNER_ROLE`: its process then needs no `SPE_DATABASE_URL`, so the "
        "signing key never sits beside the application's credentials. Default: "
        "`SPE_DATABASE_URL`.",
    )
    audit_signer_poll_seconds: float = Field(
        1.0, gt=0, le=60, description="How often the checkpoint signer looks for a requested "
        "or due checkpoint.",
    )
    audit_signer_wait_seconds: float = Field(
        30.0, gt=0, le=600, description="How long the API waits for the checkpoint signer "
        "to sign a checkpoint it asked for (a checkpoint, an export) before answering 503.",
    )
    audit_retention_days: int = Field(
        366, ge=366,
        description="How long audit event bodies are kept (EHDS Art. 73: at least a year).",
    )
    audit_anonymous_denials_per_minute: int = Field(
        60, ge=1, description="Refusals of unauthenticated requests audited one by one per "
        "client address and minute (ten times that in all); past it they are counted into "
        "one `access.denied.suppressed` event per address.",
    )
    audit_checkpoint_interval_seconds: int = Field(
        300, gt=0, description="How often a signed audit checkpoint is made."
    )
    audit_witness: str | None = Field(
        None, description="Where each signed audit checkpoint is also written, out of the "
        "database operator's reach: `file:///folder` (files an auditor pulls) or "
        "`s3://bucket/prefix` (a bucket with Object Lock, on the storage S3 service and "
        "credentials). Checkpoints are checked against it before signing.",
    )
    secure_cookies: bool = Field(
        False, description="Mark cookies `Secure` (required in production, behind HTTPS)."
    )

    session_lifetime_hours: float = Field(
        8, gt=0, le=24, description="How long a browser session lasts."
    )
    workspace_requires_mfa: bool = Field(
        True,
        description="A person enters a project's hub only with a second factor shown at "
        "sign-in (the provider's acr/amr, or a token issued to an MFA-verified person).",
    )
    hub_token_ttl_seconds: int = Field(
        300, ge=30, le=3600,
        description="Lifetime of the access tokens the control plane issues to project hubs; "
        "a hub re-checks a person at least this often, so it bounds how long a revoked or "
        "suspended permit keeps working in an open hub session.",
    )

    # -- egress airlock (spe/airlock, egress/release) --------------------------------
    release_signing_key_path: Path | None = Field(
        None,
        description="Ed25519 PEM key signing egress release manifests; keep it outside the "
        "database (a mounted secret). Default: `<data_dir>/keys/release-ed25519.pem`, created "
        "if absent.",
    )
    api_max_body_bytes: int = Field(
        1024 * 1024, gt=0,
        description="Largest request body the API reads on a JSON or form route; larger "
        "ones are refused with 413 as they stream in, before authentication. Egress uploads "
        "are bounded by the policy packs instead, dataset sources by 2 GiB.",
    )
    egress_workspace_token_ttl_minutes: int = Field(
        60, gt=0, le=24 * 60,
        description="Lifetime of the project-scoped token a project hub obtains for a "
        "researcher to submit egress requests from the workspace.",
    )
    egress_cleanup_grace_seconds: float = Field(
        3600, gt=0, le=7 * 24 * 3600,
        description="Age after which a staging folder (`<data_dir>/staging`) or a quarantine "
        "object that no egress request refers to counts as debris of a crash and is removed "
        "(younger, it may belong to an upload still in flight).",
    )
    egress_cleanup_interval_seconds: float = Field(
        3600, gt=0, le=7 * 24 * 3600,
        description="How often staging and orphan quarantine objects are swept, besides at "
        "start-up (the API sweeps its staging folder, the reconciler the quarantine).",
    )
    egress_replay_seconds: float = Field(
        60, gt=0, le=3600,
        description="Time bound of the replays of one request's analysis-library tables on "
        "the project's extract (checked between their stages; each table gets what the ones "
        "before it left); a table over it is not replayable and its evidence only "
        "informative, never a pass.",
    )
    egress_replay_max_bytes: int = Field(
        2 * 1024**3, gt=0,
        description="Memory bound of one replay: the largest extract file it decrypts, and "
        "the largest in-memory size of the columns it reads; a larger one is not replayable.",
    )

    oidc_issuer: str | None = Field(
        None, description="The institution's OpenID provider; set, it turns on sign-in "
        "through it and its access tokens (every `SPE_OIDC_*` setting: docs/identity.md).",
    )
    permit_issuers_file: Path | None = Field(
        None, description="JSON file of the data access bodies whose signed permit decisions "
        "are accepted: `{issuer: JWKS of its public keys}`, read at each decision "
        "(docs/permits.md). Unset: signed decisions are refused.",
    )
    permits_require_signature: bool = Field(
        False, description="Accept permit changes only as signed decisions "
        "(`POST /api/v1/permits/decisions`); the unsigned permit routes answer 403.",
    )
    runtime: Literal["local", "kubernetes"] = Field(
        "local", description="Where workspaces run: local processes (embedded default, not a "
        "security boundary) or Kubernetes."
    )
    reconcile_interval_seconds: float = Field(
        0.5, gt=0, description="How often the controller looks for permit changes (the audit "
        "log's new `permit.*` events) and reconciles those projects; in the same process as "
        "the API (`spe up`) a change wakes it at once."
    )
    reconcile_resync_seconds: float = Field(
        60.0, gt=0, description="How often every project is reconciled whether or not it "
        "changed (drift: a hub that died, an edited object), and orphans torn down."
    )
    reconcile_workers: int = Field(
        4, ge=1, le=64, description="Projects the controller reconciles at the same time "
        "(never one project twice at once)."
    )
    expired_data_retention_days: int = Field(
        0, ge=0, le=183,
        description="Days an expired permit's extract is kept before crypto-shredding "
        "(EHDS Art. 68(12): at most six months). Revoked permits are shredded at once.",
    )

    # -- data plane: object storage, keys, extracts (spe/dataplane) --------------------
    storage_backend: Literal["local", "s3"] = Field(
        "local", description="Object storage of sources and extracts: a local directory "
        "(embedded default) or an S3-compatible service.",
    )
    storage_local_root: Path | None = Field(
        None, description="Directory of the local object store. Default: `<data_dir>/objects`.",
    )
    storage_endpoint: str | None = Field(
        None, description="S3 `host[:port]`, without scheme or path.")
    storage_region: str | None = Field(None, description="S3 region (asked of the service "
                                       "when unset).")
    storage_bucket: str | None = Field(None, description="The one S3 bucket spe uses.")
    storage_access_key: str | None = Field(None, description="S3 access key id.")
    storage_secret_key: SecretStr | None = Field(
        None, description="S3 secret key, inline; `storage_secret_key_file` wins when set.")
    storage_secret_key_file: Path | None = Field(
        None, description="File holding the S3 secret key (a mounted secret).")
    storage_secure: bool = Field(True, description="Talk HTTPS to the S3 service.")
    storage_cert_check: bool = Field(True, description="Verify the S3 service's certificate.")
    storage_connect_timeout_seconds: float = Field(
        5.0, gt=0, description="Seconds to connect to the S3 service before giving up.")
    storage_read_timeout_seconds: float = Field(
        20.0, gt=0, description="Seconds the S3 service may leave a request without an "
        "answer (between bytes); a request is tried twice, then answered 503.")
    key_store: Literal["local", "pkcs11"] = Field(
        "local", description="What wraps the project data keys: `local`, a KEK file; "
        "`pkcs11`, a key per project inside an HSM, deleted there at crypto-shredding "
        "(docs/data-plane.md).",
    )
    key_store_path: Path | None = Field(
        None, description="Directory of the wrapped project data keys. "
        "Default: `<data_dir>/keys/data-keys`.",
    )
    pkcs11_library: Path | None = Field(
        None, description="`pkcs11` key store: the HSM's PKCS#11 module (a `.so`).")
    pkcs11_token_label: str | None = Field(
        None, description="`pkcs11` key store: label of the token holding the keys.")
    pkcs11_pin_file: Path | None = Field(
        None, description="`pkcs11` key store: file holding the token's user PIN (a mounted "
        "secret).",
    )
    kek_path: Path | None = Field(
        None, description="The local key-encryption key (32 bytes). Default: "
        "`<data_dir>/keys/kek.key`, created if absent; in production mount it as a secret.",
    )
    pseudonymisation_secret_path: Path | None = Field(
        None, description="The pseudonymisation master secret (at least 32 random bytes). "
        "Default: `<data_dir>/keys/pseudonymisation.key`, created on first use in "
        "development; production refuses to start extracts without it (mount a secret).",
    )
    extract_signing_key_path: Path | None = Field(
        None, description="Ed25519 PEM key signing extract manifests and crypto-shredding "
        "records. Default: `<data_dir>/keys/extract-ed25519.pem`, created if absent.",
    )
    extract_grant_ttl_seconds: int = Field(
        900, ge=60, le=86400,
        description="Lifetime of the grant with which a workspace fetches its decrypted "
        "extract; grants are also refused as soon as the permit stops being active.",
    )
    local_runtime_root: Path | None = Field(
        None, description="Root of the local runtime's workspaces. Default: "
        "`<data_dir>/workspaces`.",
    )
    kubernetes_api_server_cidrs: list[str] = Field(
        default_factory=list, description="Kubernetes runtime: the API server endpoints' "
        "addresses as narrow CIDRs (JSON list), which the hubs may reach.",
    )
    kubernetes_ingress_domain: str | None = Field(
        None, description="Kubernetes runtime: each hub is served at "
        "`https://<project>.<domain>/`.",
    )
    kubernetes_lease_namespace: str = Field(
        "spe", description="Kubernetes runtime: namespace of the controller's leader lease.",
    )

    # -- production deployment: shared keys, the cluster workspaces are rendered for ------
    # (the Helm chart sets each of these; docs/production.md, docs/kubernetes.md)
    keys_dir: Path = Field(
        default_factory=lambda data: Path(data["data_dir"]) / "keys",
        description="Directory of the platform's key files (sealed-secrets key, hub OpenID "
        "key, signing keys, extract grant key, KEK, pseudonymisation secret), shared by every "
        "process: a mounted Secret in production, where a missing file is refused, never "
        "created. Default: `<data_dir>/keys`, files created on first use in development.",
    )
    kubernetes_ingress_class: str = Field(
        "nginx", description="Kubernetes runtime: ingress class of the hubs' Ingresses.")
    kubernetes_tls_secret: str | None = Field(
        None, description="Kubernetes runtime: TLS Secret for the hub hosts (e.g. a wildcard "
        "certificate); unset or empty: the ingress controller's default certificate.",
    )
    kubernetes_storage_class: str | None = Field(
        None, description="Kubernetes runtime: storage class of hub databases and users' "
        "work areas; unset or empty: the cluster default.",
    )
    kubernetes_shared_storage_class: str | None = Field(
        None, description="Kubernetes runtime: storage class of the ReadWriteMany volumes "
        "(each project's shared folder and its one decrypted extract copy), mountable from "
        "several nodes (NFS, CephFS, a cloud file share); unset or empty: the cluster default.",
    )
    kubernetes_encrypted_storage_classes: list[str] = Field(
        default_factory=list, description="Kubernetes runtime: the storage classes the "
        "operator declares encrypt each volume with the key in the project namespace's "
        "`work-area-key` Secret (docs/production.md). Work areas and project folders are "
        "rendered only on such classes, unless `SPE_KUBERNETES_PLAINTEXT_WORK_AREAS` is set.",
    )
    kubernetes_plaintext_work_areas: bool = Field(
        False, description="Kubernetes runtime: accept work areas and project folders on "
        "storage classes not declared encrypted: when the permit ends they are deleted with "
        "the namespace, not crypto-shredded.",
    )
    kubernetes_namespace_prefix: str = Field(
        "spe-", description="Kubernetes runtime: project namespaces are `<prefix><project>`.")
    kubernetes_control_plane_namespace: str = Field(
        "spe", description="Kubernetes runtime: namespace of the control plane's API pods, "
        "which workspaces may reach (on `SPE_PORT`).",
    )
    kubernetes_control_plane_cidr: str | None = Field(
        None, description="Kubernetes runtime: set when the control plane runs outside the "
        "cluster; workspaces reach it at this narrow CIDR instead of its namespace.",
    )
    kubernetes_ingress_namespace: str = Field(
        "ingress-nginx", description="Kubernetes runtime: namespace of the ingress "
        "controller, the only way into a hub from outside.",
    )
    kubernetes_ingress_pod_labels: dict[str, str] = Field(
        default_factory=lambda: {"app.kubernetes.io/name": "ingress-nginx"},
        description="Kubernetes runtime: labels of the ingress controller's pods (JSON).",
    )
    kubernetes_lease_name: str = Field(
        "spe-controller", description="Kubernetes runtime: name of the controller's leader "
        "Lease (in `SPE_KUBERNETES_LEASE_NAMESPACE`).",
    )
    kubernetes_hub_image: str | None = Field(
        None, description="Kubernetes runtime: image of every project hub, replacing the "
        "profiles' `hub_image` (the Helm chart sets it); unset: the profile's.",
    )
    kubernetes_workspace_image: str | None = Field(
        None, description="Kubernetes runtime: image of researchers' servers, replacing the "
        "profiles' `image` (the Helm chart sets it); unset: the profile's.",
    )
    kubernetes_controller_service_account: str = Field(
        "spe-controller", description="Kubernetes runtime: the controller's ServiceAccount "
        "(in `SPE_KUBERNETES_CONTROL_PLANE_NAMESPACE`), bound in each project namespace to "
        "`SPE_KUBERNETES_CONTROLLER_PROJECT_ROLE`.",
    )
    kubernetes_controller_project_role: str = Field(
        "spe-controller-project", description="Kubernetes runtime: the ClusterRole holding "
        "the controller's rights inside a project namespace (granted there by a RoleBinding, "
        "never cluster-wide).",
    )
    controller_health_port: int = Field(
        0, ge=0, le=65535, description="`spe controller` answers `/healthz` and `/readyz` on "
        "this port (all addresses); 0: no health server.",
    )

    # -- usage and footprint (docs/usage.md: the formula, the defaults and their sources) ---
    usage_sample_interval_seconds: float = Field(
        15, gt=0, le=3600, description="How often the controller samples what each project's "
        "workspace uses (CPU, memory, GPUs, storage) and adds it to the project's usage.",
    )
    usage_watts_per_core: float = Field(
        12.0, ge=0, description="Power drawn by one fully used CPU core, in watts (Green "
        "Algorithms' default for an unknown processor: 12 W per core).",
    )
    usage_watts_per_gib_memory: float = Field(
        0.3725, ge=0, description="Power drawn per GiB of memory, in watts (Green Algorithms: "
        "0.3725 W/GB).",
    )
    usage_watts_per_gpu: dict[str, float] = Field(
        default_factory=lambda: {"nvidia.com/gpu": 250.0},
        description="Power drawn by one allocated GPU, in watts, per GPU resource name (JSON); "
        "default: an NVIDIA A100 PCIe 40 GB's rated 250 W. A resource not listed counts "
        "`SPE_USAGE_DEFAULT_WATTS_PER_GPU`.",
    )
    usage_default_watts_per_gpu: float = Field(
        250.0, ge=0, description="Power of a GPU resource absent from "
        "`SPE_USAGE_WATTS_PER_GPU`, in watts.",
    )
    usage_pue: float = Field(
        1.67, ge=1, le=5, description="Power usage effectiveness of the data centre (Green "
        "Algorithms' default: 1.67, the Uptime Institute's 2019 global average); set your "
        "host's figure.",
    )
    usage_grams_co2e_per_kwh: float = Field(
        33.0, ge=0, description="Carbon intensity of the electricity, gCO2e/kWh (default: "
        "France, Electricity Maps' life-cycle yearly average for 2024, 33 g).",
    )

    @model_validator(mode="after")
    def _pkcs11_is_complete(self) -> Settings:
        if self.key_store == "pkcs11" and not (
                self.pkcs11_library and self.pkcs11_token_label and self.pkcs11_pin_file):
            raise ValueError("SPE_KEY_STORE=pkcs11 needs SPE_PKCS11_LIBRARY, "
                             "SPE_PKCS11_TOKEN_LABEL and SPE_PKCS11_PIN_FILE")
        return self

    @model_validator(mode="after")
    def _production_is_strict(self) -> Settings:
        if self.environment == "production":
            if not self.secure_cookies:
                raise ValueError("production needs SPE_SECURE_COOKIES=true (HTTPS)")
            urls = [url for url in (self.database_url, self.audit_signer_database_url)
                    if url is not None]
            if not urls or any(url.startswith("sqlite") for url in urls):
                raise ValueError("production needs SPE_DATABASE_URL (the checkpoint signer: "
                                 "SPE_AUDIT_SIGNER_DATABASE_URL) pointing at PostgreSQL")
        return self

    @property
    def resolved_database_url(self) -> str:
        """The application's database; in production only ``database_url`` (a process given
        only the checkpoint signer's URL is refused here, never sent to SQLite)."""
        if self.database_url is None and self.environment == "production":
            raise ValueError("production needs SPE_DATABASE_URL pointing at PostgreSQL (only "
                             "the checkpoint signer runs with SPE_AUDIT_SIGNER_DATABASE_URL "
                             "alone)")
        return self.database_url or f"sqlite:///{self.data_dir / 'spe.db'}"

    @property
    def resolved_audit_signer_database_url(self) -> str:
        return self.audit_signer_database_url or self.resolved_database_url

    @property
    def resolved_admin_database_url(self) -> str:
        return self.database_admin_url or self.resolved_database_url

    @property
    def resolved_audit_signing_key_path(self) -> Path:
        return self.audit_signing_key_path or self.keys_dir / "audit-ed25519.pem"

    @property
    def resolved_audit_public_key_path(self) -> Path:
        return self.audit_public_key_path or self.keys_dir / "audit-ed25519.pub.pem"

    # -- the areas: each section is read from the fields above (see the module docstring) --

    @property
    def api(self) -> ApiSettings:
        return ApiSettings.model_validate(self)

    @property
    def database(self) -> DatabaseSettings:
        return DatabaseSettings.model_validate(self)

    @property
    def telemetry(self) -> TelemetrySettings:
        return TelemetrySettings.model_validate(self)

    @property
    def auth(self) -> AuthSettings:
        return AuthSettings.model_validate(self)

    @property
    def audit(self) -> AuditSettings:
        return AuditSettings.model_validate(self)

    @property
    def permits(self) -> PermitSettings:
        return PermitSettings.model_validate(self)

    @property
    def egress(self) -> EgressSettings:
        return EgressSettings.model_validate(self)

    @property
    def storage(self) -> StorageSettings:
        return StorageSettings.model_validate(self)

    @property
    def keys(self) -> KeySettings:
        return KeySettings.model_validate(self)

    @property
    def extracts(self) -> ExtractSettings:
        return ExtractSettings.model_validate(self)

    @property
    def controller(self) -> ControllerSettings:
        return ControllerSettings.model_validate(self)

    @property
    def kubernetes(self) -> KubernetesSettings:
        return KubernetesSettings.model_validate(self)

    @property
    def usage(self) -> UsageSettings:
        return UsageSettings.model_validate(self)

    # derived defaults the sections read (``<data_dir>/...`` unless set)

    @property
    def resolved_storage_local_root(self) -> Path:
        return self.storage_local_root or self.data_dir / "objects"

    @property
    def resolved_key_store_path(self) -> Path:
        return self.key_store_path or self.keys_dir / "data-keys"

    @property
    def resolved_local_runtime_root(self) -> Path:
        return self.local_runtime_root or self.data_dir / "workspaces"

    @property
    def key_files(self) -> KeyPaths:
        return KeyPaths.in_directory(self.keys_dir).placed(
            audit_signing=self.resolved_audit_signing_key_path,
            audit_public=self.resolved_audit_public_key_path,
            release_signing=self.release_signing_key_path,
            extract_signing=self.extract_signing_key_path,
            kek=self.kek_path, pseudonymisation=self.pseudonymisation_secret_path)


@lru_cache
def get_settings() -> Settings:
    return Settings()


def _prefixed(prefix: str) -> ConfigDict:
    """A section whose fields are the variables ``SPE_<prefix><field>`` unless a field names
    its own (``validation_alias``); a section is also built by its own field names (tests)."""
    return ConfigDict(frozen=True, from_attributes=True, validate_by_name=True,
                      validate_by_alias=True, alias_generator=lambda name: prefix + name)


def _of(name: str, **field):
    """The :class:`Settings` attribute a section field is read from."""
    return Field(validation_alias=AliasChoices(name), **field)


class ApiSettings(BaseModel):
    """Where the control plane is reached and what its API reads."""

    model_config = _prefixed("")
    public_url: str
    host: str
    port: int
    max_body_bytes: int = _of("api_max_body_bytes")


class DatabaseSettings(BaseModel):
    model_config = _prefixed("database_")
    url: str = _of("resolved_database_url")
    admin_url: str = _of("resolved_admin_database_url")
    app_role: str | None
    signer_role: str | None
    pool_size: int
    pool_overflow: int


class TelemetrySettings(BaseModel):
    model_config = _prefixed("telemetry_")
    exporter: Literal["none", "console", "otlp"]
    otlp_endpoint: str | None = _of("otlp_endpoint")


class AuthSettings(BaseModel):
    """Tokens, sessions and who may enter a hub."""

    model_config = _prefixed("")
    secure_cookies: bool
    session_lifetime_hours: float
    workspace_requires_mfa: bool
    hub_token_ttl_seconds: int
    token_default_ttl_hours: float
    token_max_ttl_days: int
    oidc_issuer: str | None


class AuditSettings(BaseModel):
    model_config = _prefixed("audit_")
    signing_key_path: Path = _of("resolved_audit_signing_key_path")
    public_key_path: Path = _of("resolved_audit_public_key_path")
    retention_days: int
    anonymous_denials_per_minute: int
    checkpoint_interval_seconds: int
    witness: str | None
    signer_database_url: str = _of("resolved_audit_signer_database_url")
    signer_poll_seconds: float
    signer_wait_seconds: float


class PermitSettings(BaseModel):
    model_config = _prefixed("")
    issuers_file: Path | None = _of("permit_issuers_file")
    require_signature: bool = _of("permits_require_signature")
    expired_data_retention_days: int


class EgressSettings(BaseModel):
    """The airlock's: workspace tokens and the sweep of crash debris."""

    model_config = _prefixed("egress_")
    workspace_token_ttl_minutes: int
    cleanup_grace_seconds: float
    cleanup_interval_seconds: float


class StorageSettings(BaseModel):
    """Object storage (spe.storage.open_store): a local directory or an S3 service. The S3
    secret key comes from ``secret_key_file`` (a mounted secret) when given, else from
    ``secret_key``."""

    model_config = _prefixed("storage_")
    backend: Literal["local", "s3"] = "local"
    local_root: Path | None = _of("resolved_storage_local_root", default=None)
    endpoint: str | None = None
    region: str | None = None
    bucket: str | None = None
    access_key: str | None = None
    secret_key: SecretStr | None = None
    secret_key_file: Path | None = None
    secure: bool = True
    cert_check: bool = True
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 20.0

    @field_validator("endpoint")
    @classmethod
    def _host_and_port(cls, endpoint: str | None) -> str | None:
        if endpoint is not None and ("://" in endpoint or "/" in endpoint):
            raise ValueError("endpoint is host[:port], without scheme or path; "
                             "`secure` chooses https or http")
        return endpoint

    @model_validator(mode="after")
    def _complete(self) -> StorageSettings:
        if self.backend == "local" and self.local_root is None:
            raise ValueError("the local backend needs local_root")
        if self.backend == "s3":
            missing = [name for name in ("endpoint", "bucket", "access_key")
                       if not getattr(self, name)]
            if self.secret_key is None and self.secret_key_file is None:
                missing.append("secret_key or secret_key_file")
            if missing:
                raise ValueError(f"the s3 backend needs {', '.join(missing)}")
        return self


@dataclass(frozen=True)
class KeyPaths:
    """Where each of the platform's key files is."""

    secret_box: Path
    """Fernet key sealing secrets read back later (the hubs' OAuth client secrets)."""
    hub_oidc: Path
    """RSA private JWK signing the ID tokens the control plane issues to project hubs."""
    audit_signing: Path
    """Ed25519 PEM key signing audit checkpoints (the checkpoint signer's alone)."""
    audit_public: Path
    """Its public half (PEM): what the API verifies checkpoints with."""
    release_signing: Path
    """Ed25519 PEM key signing egress release manifests."""
    extract_signing: Path
    """Ed25519 PEM key signing extract manifests and crypto-shredding records."""
    extract_grant: Path
    """32 random bytes: the HMAC key of extract grants (rotating it voids open grants)."""
    kek: Path
    """32 random bytes: the key-encryption key wrapping every project's data key."""
    pseudonymisation: Path
    """At least 32 random bytes: the pseudonymisation master secret."""

    @classmethod
    def in_directory(cls, directory: Path) -> KeyPaths:
        """The files under their default names in ``directory`` (the keys Secret's keys)."""
        return cls(secret_box=directory / "secrets.key",
                   hub_oidc=directory / "hub-oidc-key.json",
                   audit_signing=directory / "audit-ed25519.pem",
                   audit_public=directory / "audit-ed25519.pub.pem",
                   release_signing=directory / "release-ed25519.pem",
                   extract_signing=directory / "extract-ed25519.pem",
                   extract_grant=directory / "extract-grant.key",
                   kek=directory / "kek.key",
                   pseudonymisation=directory / "pseudonymisation.key")

    def placed(self, **paths: Path | None) -> KeyPaths:
        """These paths, with those files a setting of their own places elsewhere."""
        return KeyPaths(**{**self.__dict__, **{k: v for k, v in paths.items() if v}})


class KeySettings(BaseModel):
    """The key files and the store wrapping the project data keys (docs/data-plane.md)."""

    model_config = _prefixed("")
    directory: Path = _of("keys_dir")
    files: KeyPaths = _of("key_files")
    store: Literal["local", "pkcs11"] = _of("key_store")
    store_path: Path = _of("resolved_key_store_path")
    pkcs11_library: Path | None
    pkcs11_token_label: str | None
    pkcs11_pin_file: Path | None


class ExtractSettings(BaseModel):
    model_config = _prefixed("extract_")
    grant_ttl_seconds: int


class ControllerSettings(BaseModel):
    """The reconciler process: where workspaces run and how often it looks."""

    model_config = _prefixed("")
    runtime: Literal["local", "kubernetes"]
    reconcile_interval_seconds: float
    reconcile_resync_seconds: float
    reconcile_workers: int
    local_runtime_root: Path = _of("resolved_local_runtime_root")
    health_port: int = _of("controller_health_port")


class KubernetesSettings(BaseModel):
    """The cluster the Kubernetes runtime renders for (``SPE_KUBERNETES_*``, which the Helm
    chart sets); an empty TLS Secret, storage class, image or CIDR means unset."""

    model_config = _prefixed("kubernetes_")
    api_server_cidrs: tuple[str, ...]
    ingress_domain: str | None
    lease_namespace: str
    lease_name: str
    ingress_class: str
    tls_secret: str | None
    storage_class: str | None
    shared_storage_class: str | None
    encrypted_storage_classes: tuple[str, ...]
    plaintext_work_areas: bool
    namespace_prefix: str
    control_plane_namespace: str
    control_plane_cidr: str | None
    ingress_namespace: str
    ingress_pod_labels: dict[str, str]
    hub_image: str | None
    workspace_image: str | None
    controller_service_account: str
    controller_project_role: str

    @field_validator("tls_secret", "storage_class", "shared_storage_class", "hub_image",
                     "workspace_image", "control_plane_cidr")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None


class UsageSettings(BaseModel):
    """Sampling and the footprint's coefficients (docs/usage.md)."""

    model_config = _prefixed("usage_")
    sample_interval_seconds: float
    watts_per_core: float
    watts_per_gib_memory: float
    watts_per_gpu: dict[str, float]
    default_watts_per_gpu: float
    pue: float
    grams_co2e_per_kwh: float
