"""The runtime interface: where a project's workspace actually runs.

A runtime knows how to make one project's workspace exist, stop its users' servers, tear it
down and report what is there. It knows nothing of permits or the database: the reconciler
(:mod:`controllers.reconciler`) turns a project's permit into a :class:`WorkspaceSpec` and
calls these methods, which must all be idempotent.

Implementations are registered by a short name (setting ``SPE_RUNTIME``,
:mod:`controllers.runtimes.registry`): ``local`` (:mod:`controllers.runtimes.local`) and
``kubernetes`` (:mod:`controllers.runtimes.kubernetes`). What differs between them beyond the
contract is a method with a default here (:meth:`Runtime.extract_dir`,
:meth:`Runtime.encrypts_work_areas`), never a question of which runtime it is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import ClassVar, Self

from spe.settings import Settings
from workspaces.spec import WorkspaceSpec


class WorkspacePhase(StrEnum):
    ABSENT = "absent"
    PROVISIONING = "provisioning"
    READY = "ready"
    SUSPENDED = "suspended"
    ERROR = "error"


@dataclass(frozen=True)
class ObservedWorkspace:
    project_id: str
    phase: WorkspacePhase
    url: str | None = None
    message: str = ""
    servers: tuple[str, ...] = ()  # users with a running server


class Runtime(ABC):
    """One fixed contract; implementations override the four small methods."""

    name: ClassVar[str]

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Settings) -> Self:
        """The runtime the settings describe (``spe controller``, ``spe up``)."""

    def extract_dir(self, project_id: str) -> Path | None:
        """The folder the data plane writes the project's decrypted extract into, for a
        runtime whose workspaces read it there (``local``); ``None``, the default, for one
        whose workspaces fetch it themselves with the grant in their spec (``kubernetes``)."""
        return None

    def encrypts_work_areas(self) -> bool:
        """Whether this runtime encrypts the project's work areas and folder with the
        project's work-area key (``spec.work_area_key``, from spe's key store), so that
        destroying the key when the permit ends shreds them (``kubernetes`` on encrypting
        storage classes). ``False``, the default: they are deleted, not shredded."""
        return False

    @abstractmethod
    def ensure(self, spec: WorkspaceSpec) -> ObservedWorkspace:
        """Make the workspace exist, running and accepting logins, exactly as ``spec`` says."""

    @abstractmethod
    def suspend(self, project_id: str) -> ObservedWorkspace:
        """Stop every user server and refuse logins; keep data and configuration."""

    @abstractmethod
    def delete(self, project_id: str) -> None:
        """Tear everything down; absent is not an error."""

    def show_closed(self, project_id: str, page_url: str) -> None:  # noqa: B027
        """While suspended, send browsers on the workspace's address to ``page_url`` (spe's
        page saying why; both runtimes serve :mod:`controllers.runtimes.closed`). Optional:
        the default leaves the address unanswered."""

    @abstractmethod
    def observe(self, project_id: str) -> ObservedWorkspace:
        """What is there now (``ABSENT`` if nothing)."""

    @abstractmethod
    def projects(self) -> set[str]:
        """Ids of every project this runtime has something for (to find orphans)."""
