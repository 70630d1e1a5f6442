"""The RSA key (a private JWK file) that signs the ID tokens the control plane gives hubs."""

from __future__ import annotations

import json
import os

from joserfc.jwk import RSAKey

from spe.fs import private_folder


def load_signing_key(path) -> RSAKey:
    """The RSA key signing ID tokens for hubs, created on first use (private JWK file)."""
    if path.exists():
        return RSAKey.import_key(json.loads(path.read_text()))
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, private=True,
                              auto_kid=True)
    private_folder(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(key.as_dict(private=True)))
    return key

