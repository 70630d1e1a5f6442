"""Every table of spe, imported in one place so the metadata is complete (migrations,
tests). Each area owns its models; this module only gathers them."""

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

__all__ = [
    "ApiToken",
    "Dataset",
    "HubAuthCode",
    "HubClient",
    "HubToken",
    "Permit",
    "PermitDataset",
    "PermitMember",
    "PermitRevision",
    "Project",
    "RoleGrant",
    "User",
    "WebSession",
]
