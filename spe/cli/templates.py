"""``spe permit template``: commented example files that ``spe permit create``/``amend``
accept, naming the datasets of the demo (``spe up``) so they work as printed there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

PERMIT = """\
# A data permit as the data access body granted it (docs/permits.md).
# Save this file, edit it, then: spe permit create permit.yaml
# Needs a permit_manager or admin token (SPE_TOKEN). Creating it creates its project.

# The access body's own reference: 3-64 letters, digits, '.', '_' or '-'; unique.
reference: EXAMPLE-0001
# Who granted it.
issuer: Health Data Hub
# Why the data may be used: shown to the researchers and kept in the audit log.
purpose: Care pathways of patients on statins.
project_title: Statins care pathways
# Subjects (user names) of the people named in the permit; the principal investigator is
# added to the members. A person not listed here cannot log in to the project's workspace.
principal_investigator: alice
members:
  - alice
# The datasets of the catalogue (`spe dataset list`) and, for each, the variables granted:
# only these columns reach the workspace (data minimisation).
datasets:
  - dataset: snds-beneficiaries
    variables: [nir, sex, birth_year, department]
  - dataset: snds-care
    variables: [nir, care_date, act_code, atc_code, icd10, cost_eur]
# Validity, with a time zone (quoted, ISO 8601). The workspace exists only in between.
valid_from: "{start}"
valid_until: "{end}"
# The policy pack whose disclosure-control rules and egress limits apply (policies/packs/).
sdc_policy: snds
# The workspace's resources and images (policies/workspace-profiles/).
workspace_profile: standard
"""

AMENDMENT = """\
# An amendment of an active permit's terms (docs/permits.md).
# Save this file, edit it, then:
#   spe permit amend EXAMPLE-0001 amendment.yaml --reason "new analyst"
# Give only what changes; a list replaces the whole list. Validity changes with
# `spe permit renew`, not here.

# The new members: bob joins. Someone left out is removed, and loses the workspace at once.
members:
  - alice
  - bob
# Other fields that may change (uncomment to use):
# purpose: Care pathways of patients on statins, and their costs.
# project_title: Statins care pathways and costs
# principal_investigator: alice
# datasets:
#   - dataset: snds-care
#     variables: [nir, care_date, atc_code, cost_eur]
# sdc_policy: snds
# workspace_profile: standard
"""


def permit_template(now: datetime | None = None) -> str:
    """The example permit, valid from today for a year."""
    start = (now or datetime.now(UTC)).replace(hour=0, minute=0, second=0, microsecond=0)
    return PERMIT.format(start=start.isoformat(),
                         end=(start + timedelta(days=365)).isoformat())


def amendment_template() -> str:
    return AMENDMENT
