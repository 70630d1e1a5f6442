"""The roles a person can hold on the platform."""

from enum import StrEnum


class Role(StrEnum):
    admin = "admin"  # platform operator
    permit_manager = "permit_manager"  # the access body's staff
    data_steward = "data_steward"  # registers datasets and their sources
    researcher = "researcher"  # works in the workspaces their permits name them in
    output_checker = "output_checker"  # reviews egress requests
    auditor = "auditor"  # reads and verifies the audit log
