"""Exceptions raised by the egress package.

    EgressError
    ├── UnknownPolicyError   the pack named does not exist or does not validate
    ├── InputError           a file or table that cannot be read or is not what it claims
    │   └── AcroFormatError  an ACRO output folder whose results.json is malformed
    └── EvidenceError        evidence too thin for the rules asked of it
"""

from __future__ import annotations


class EgressError(Exception):
    """Base of every error raised by :mod:`egress`."""


class UnknownPolicyError(EgressError):
    """The policy pack named does not exist or does not validate."""


class InputError(EgressError):
    """A file or table that cannot be read, or bad arguments for a table."""


class AcroFormatError(InputError):
    """An ACRO output folder whose ``results.json`` does not have ACRO's format."""


class EvidenceError(EgressError):
    """The evidence kept for a table cannot support a rule (e.g. dominance with n > kept)."""
