"""The data plane's extracts: pseudonymisation, encryption, synthetic data, the pipeline that
prepares an extract, the reader a workspace uses, and crypto-shredding.

See docs/data-plane.md for the formats and the key hierarchy.
"""

from spe.data.encryption import (
    EncryptionError,
    FormatError,
    IntegrityError,
    TamperedError,
    TruncatedError,
    WrongKeyError,
)
from spe.data.extract import ExtractError, ExtractSource, MissingVariables, prepare_extract
from spe.data.manifest import ManifestError, load_manifest, verify_manifest
from spe.data.pseudonymise import METHOD as PSEUDONYMISATION_METHOD
from spe.data.pseudonymise import Pseudonymiser
from spe.data.reader import materialise, read_extract
from spe.data.shred import shred_project

__all__ = ["PSEUDONYMISATION_METHOD", "EncryptionError", "ExtractError", "ExtractSource",
           "FormatError", "IntegrityError", "ManifestError", "MissingVariables",
           "Pseudonymiser", "TamperedError", "TruncatedError", "WrongKeyError",
           "load_manifest", "materialise", "prepare_extract", "read_extract", "shred_project",
           "verify_manifest"]
