"""Every table of spe, imported in one place so the metadata is complete (migrations,
tests). Each area owns its models; this module only gathers them."""

from spe.airlock.models import (
    EgressFile,
    EgressRelease,
    EgressRequest,
    EgressVote,
    ReleaseLedger,
)
from spe.audit.models import AuditCheckpoint, AuditEvent, AuditHead, AuditLeaf, AuditNode
from spe.auth.hub_clients import HubClient
from spe.auth.hub_provider import HubAuthCode, HubToken
from spe.auth.sessions import WebSession
from spe.auth.tokens import ApiToken
from spe.domain import (
    Dataset,
    Permit,
    PermitDataset,
    PermitMember,
    PermitRevision,
    Project,
    RoleGrant,
    User,
)
from spe.domain.budgets import ProjectBudget
from spe.domain.permit_decisions import PermitDecision
from spe.domain.usage import ProjectUsage

__all__ = [
    "ApiToken", "AuditCheckpoint", "AuditEvent", "AuditHead", "AuditLeaf", "AuditNode",
    "Dataset", "EgressFile", "EgressRelease", "EgressRequest", "EgressVote", "HubAuthCode",
    "HubClient", "HubToken", "Permit", "PermitDataset", "PermitDecision", "PermitMember",
    "PermitRevision", "Project", "ProjectBudget", "ProjectUsage", "ReleaseLedger", "RoleGrant",
    "User", "WebSession",
]
