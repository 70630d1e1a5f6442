"""The domain: users and roles, datasets, permits and the projects they entitle.

Importing this package registers every table in ``SQLModel.metadata``.
"""

from spe.domain.datasets import Dataset
from spe.domain.permits import Permit, PermitDataset, PermitMember, PermitRevision
from spe.domain.projects import Project
from spe.domain.roles import Role
from spe.domain.users import RoleGrant, User

__all__ = ["Dataset", "Permit", "PermitDataset", "PermitMember", "PermitRevision", "Project",
           "Role", "RoleGrant", "User"]
