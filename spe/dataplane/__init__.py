"""The data plane glue: extracts prepared for permits, fetched with grants, shredded.

See :mod:`spe.dataplane.plane` (what the reconciler calls), :mod:`spe.dataplane.grants`
(the workspace's credential to fetch its extract) and :mod:`spe.dataplane.config` (the
parts, from settings).
"""

from spe.dataplane.config import MissingSecret, object_store
from spe.dataplane.grants import GrantRefused, check_grant, issue_grant
from spe.dataplane.plane import CONDITION, ProjectDataPlane, plan_extract

__all__ = ["CONDITION", "GrantRefused", "MissingSecret", "ProjectDataPlane", "check_grant",
           "issue_grant", "object_store", "plan_extract"]
