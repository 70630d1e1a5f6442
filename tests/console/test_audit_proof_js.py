"""The browser's audit proof check (``spe/console/static/merkle.js``) agrees with the Python
verifier: under Node's WebCrypto, every inclusion proof the Python code builds (both leaf
versions) for trees of 1 to 33 leaves verifies, and each kind of forgery is refused with its
reason."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from spe.audit import encoding, merkle, service
from spe.audit.checkpoints import Checkpoint
from spe.crypto.signing import SigningKey, public_key_pem

MERKLE_JS = Path(__file__).resolve().parents[2] / "spe" / "console" / "static" / "merkle.js"
RUNNER = """
import { verifyInclusion } from %s;
import fs from "node:fs";
const cases = JSON.parse(fs.readFileSync(0, "utf8"));
const out = [];
for (const c of cases) {
  try { await verifyInclusion(c.proof, c.key, c.expected); out.push("ok"); }
  catch (e) { out.push(e.message); }
}
console.log(JSON.stringify(out));
"""


def proofs(signer: SigningKey) -> list[dict]:
    """Real inclusion proofs (as ``service.inclusion`` answers) for every leaf of small trees."""
    cases = []
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for size in (*range(1, 18), 31, 32, 33):
        version = encoding.VERSIONS[size % len(encoding.VERSIONS)]  # every leaf version
        leaves = [encoding.leaf_bytes(seq, start + timedelta(seconds=seq), os.urandom(32),
                                      version) for seq in range(size)]
        hashes = [merkle.leaf_hash(leaf) for leaf in leaves]

        def fetch(ids, hashes=hashes):
            return {(level, index): merkle.root(hashes[index << level:(index + 1) << level])
                    for level, index in ids}

        stamp = encoding.format_ts(start + timedelta(hours=1))
        root = merkle.root(hashes)
        cp = Checkpoint(size, root, stamp, signer.key_id, signer.sign(
            encoding.checkpoint_bytes(size, root, stamp, signer.key_id)))
        for seq in range(size):
            ts = encoding.format_ts(start + timedelta(seconds=seq))
            proof = {"seq": seq, "tree_size": size, "leaf": {
                "v": version, "seq": seq, "ts": ts, "body": leaves[seq][-32:].hex(),
                "leaf_hash": hashes[seq].hex()},
                "proof": [p.hex() for p in merkle.inclusion_proof(seq, size, fetch)],
                "checkpoint": cp.to_json()}
            service.verify_inclusion(proof, signer.public_key)  # the Python verifier agrees
            cases.append({"proof": proof, "expected": {"seq": seq, "ts": ts}})
    return cases


def run_node(cases: list[dict], key: dict) -> list[str]:
    script = RUNNER % json.dumps(MERKLE_JS.as_uri())
    done = subprocess.run(["node", "--input-type=module", "-e", script],
                          input=json.dumps([c | {"key": key} for c in cases]),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_browser_check_agrees_with_the_python_verifier():
    signer = SigningKey(Ed25519PrivateKey.generate())
    key = {"pem": public_key_pem(signer.public_key), "key_id": signer.key_id}
    cases = proofs(signer)
    assert set(run_node(cases, key)) == {"ok"}

    def forged(change) -> dict:
        case = json.loads(json.dumps(cases[40]))
        change(case)
        return case

    def flip(text: str) -> str:
        return ("1" if text[0] == "0" else "0") + text[1:]

    forgeries = [
        forged(lambda c: c["proof"]["leaf"].update(body=flip(c["proof"]["leaf"]["body"]))),
        forged(lambda c: c["proof"]["proof"].__setitem__(0, flip(c["proof"]["proof"][0]))),
        forged(lambda c: c["proof"]["proof"].pop()),
        forged(lambda c: c["proof"]["checkpoint"].update(ts="2030-01-01T00:00:00.000000Z")),
        forged(lambda c: c["expected"].update(seq=c["expected"]["seq"] + 1)),
    ]
    other = SigningKey(Ed25519PrivateKey.generate())
    assert run_node(forgeries, key) == [
        "the leaf hash does not match the leaf",
        "the Merkle path does not lead to the checkpoint's root",
        "proof shorter than the tree",
        "the checkpoint's signature does not verify",
        "the leaf is not this event's",
    ]
    stranger = {"pem": public_key_pem(other.public_key), "key_id": other.key_id}
    assert run_node(cases[:1], stranger) == [
        f"the checkpoint is signed by key {signer.key_id}, not {other.key_id}"]
