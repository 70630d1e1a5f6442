// The audit proof check as pure functions (spe.audit.service.verify_inclusion in
// JavaScript): used by audit-proof.js in the browser, cross-checked against the Python
// implementation by tests/console/test_audit_proof_js.py under Node.
export const hex = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
export const unhex = (text) => Uint8Array.from(text.match(/../g) || [], (h) => parseInt(h, 16));
const base64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));

// The leaf (spe.audit.encoding.leaf_bytes, docs/audit.md): version 2 is
// v || seq (8 bytes, big-endian) || ts || commitment; version 3 adds the lengths:
// v || seq || len(ts) (1 byte) || ts || len(commitment) (1 byte) || commitment.
export function leafBytes(leaf) {
  const ts = new TextEncoder().encode(leaf.ts), body = unhex(leaf.body);
  if (leaf.v !== 2 && leaf.v !== 3) throw new Error(`unknown leaf version ${leaf.v}`);
  const head = new Uint8Array(leaf.v === 3 ? 10 : 9);
  const view = new DataView(head.buffer);
  view.setUint8(0, leaf.v);
  view.setBigUint64(1, BigInt(leaf.seq));
  if (leaf.v === 2) return concat(head, ts, body);
  view.setUint8(9, ts.length);
  return concat(head, ts, Uint8Array.of(body.length), body);
}

// RFC 9162, section 2.1.3.2
export async function rootFromPath(index, size, leafHash, path) {
  if (!(index >= 0 && index < size)) throw new Error("leaf index outside the tree");
  let fn = BigInt(index), sn = BigInt(size - 1), r = leafHash;
  for (const p of path.map(unhex)) {
    if (sn === 0n) throw new Error("proof longer than the tree");
    if ((fn & 1n) === 1n || fn === sn) {
      r = await sha256(concat(Uint8Array.of(1), p, r));
      while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      r = await sha256(concat(Uint8Array.of(1), r, p));
    }
    fn >>= 1n; sn >>= 1n;
  }
  if (sn !== 0n) throw new Error("proof shorter than the tree");
  return r;
}

// spe.crypto.canonical for the checkpoint's flat object: sorted keys, no spaces.
const canonical = (value) => "{" + Object.keys(value).sort()
  .map((k) => JSON.stringify(k) + ":" + JSON.stringify(value[k])).join(",") + "}";

function spki(pem) {
  return base64(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""));
}

// Throws with what failed, or returns the checkpoint's size and key id.
export async function verifyInclusion(proof, key, expected) {
  const cp = proof.checkpoint;
  if (proof.seq !== expected.seq || proof.leaf.seq !== expected.seq || proof.leaf.ts !== expected.ts) {
    throw new Error("the leaf is not this event's");
  }
  const leafHash = await sha256(concat(Uint8Array.of(0), leafBytes(proof.leaf)));
  if (hex(leafHash) !== proof.leaf.leaf_hash) throw new Error("the leaf hash does not match the leaf");
  const root = await rootFromPath(expected.seq, cp.tree_size, leafHash, proof.proof);
  if (hex(root) !== cp.root_hash) throw new Error("the Merkle path does not lead to the checkpoint's root");
  const der = spki(key.pem);
  const keyId = hex(await sha256(der.slice(der.length - 32))).slice(0, 16);
  if (keyId !== cp.key_id) throw new Error(`the checkpoint is signed by key ${cp.key_id}, not ${keyId}`);
  const publicKey = await crypto.subtle.importKey("spki", der, { name: "Ed25519" }, false, ["verify"]);
  const message = new TextEncoder().encode(canonical({
    key_id: cp.key_id, root: cp.root_hash, tree_size: cp.tree_size, ts: cp.ts,
    type: "spe-audit-checkpoint", v: 1,
  }));
  if (!(await crypto.subtle.verify({ name: "Ed25519" }, publicKey, base64(cp.signature), message))) {
    throw new Error("the checkpoint's signature does not verify");
  }
  return { size: cp.tree_size, key: cp.key_id };
}
