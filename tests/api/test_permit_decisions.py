"""Permits as signed decisions of a trusted issuer (DESIGN.md): applied through the permit
state machine and kept; tampered, unsigned, foreign, replayed ones refused and audited."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from joserfc import jws
from joserfc.jwk import OctKey
from sqlmodel import Session, select

from spe.audit.models import AuditEvent
from spe.domain.permit_decisions import ALGORITHMS, TYPE
from spe.domain.roles import Role
from spe.web import create_app
from testsupport.factories import (
    auth,
    make_dataset,
    make_user,
    permit_body,
    permit_issuer,
    sign_decision,
    unique,
)

HDH = "https://hdh.example/permits"
OTHER = "https://other-body.example"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("issuers")
    other, _ = permit_issuer(folder, OTHER, curve="P-256")
    hdh, path = permit_issuer(folder, HDH, trusted={OTHER: [other]})
    return {"hdh": hdh, "other": other, "file": path}


def client_for(settings, engine, **changes):
    return TestClient(create_app(settings.model_copy(update=changes), engine),
                      raise_server_exceptions=False)


@pytest.fixture(scope="module")
def signed(settings, engine, keys):
    with client_for(settings, engine, permit_issuers_file=keys["file"]) as c:
        yield c


@pytest.fixture(scope="module")
def manager(tokens):
    return auth(tokens[Role.permit_manager])


def grant_terms(engine) -> dict:
    body = permit_body(make_dataset(engine), [make_user(engine, Role.researcher)[0]])
    return {k: v for k, v in body.items() if k not in {"reference", "issuer"}}


def submit(client, manager, token: str):
    return client.post("/api/v1/permits/decisions", json={"jws": token}, headers=manager)


def events(engine, action: str) -> list[AuditEvent]:
    with Session(engine) as s:
        return list(s.exec(select(AuditEvent).where(AuditEvent.action == action)
                           .order_by(AuditEvent.seq)))


def test_a_signed_grant_creates_the_permit_and_keeps_the_decision(signed, manager, engine,
                                                                   keys):
    reference = unique("HDH-S").upper()
    token = sign_decision(keys["hdh"], HDH, "grant", reference, grant_terms(engine))
    response = submit(signed, manager, token)
    assert response.status_code == 200, response.text
    permit = response.json()
    assert (permit["reference"], permit["issuer"], permit["status"]) == \
        (reference, HDH, "granted")
    assert permit["project_id"]
    kept = signed.get(f"/api/v1/permits/{reference}/decisions", headers=manager).json()
    assert [(d["decision"], d["issuer"], d["kid"], d["token"]) for d in kept["items"]] == \
        [("grant", HDH, keys["hdh"].kid, token)]
    # anyone with the issuer's public key can check what was decided
    public = keys["hdh"].__class__.import_key(keys["hdh"].as_dict(private=False))
    payload = json.loads(jws.deserialize_compact(kept["items"][0]["token"], public,
                                                 algorithms=ALGORITHMS).payload)
    assert payload["reference"] == reference and payload["decision"] == "grant"
    applied = [e for e in events(engine, "permit.decision.apply") if e.target_id == permit["id"]]
    assert len(applied) == 1
    assert applied[0].details == {"reference": reference, "decision": "grant", "issuer": HDH,
                                  "kid": keys["hdh"].kid, "jti": payload["jti"]}
    assert [e.action for e in events(engine, "permit.create") if e.target_id == permit["id"]]


def test_a_permits_whole_life_by_signed_decisions(signed, manager, engine, keys):
    reference = unique("HDH-L").upper()
    key = keys["hdh"]
    until = (datetime.now(UTC) + timedelta(days=400)).isoformat()
    steps = [("grant", grant_terms(engine), "granted"),
             ("amend", {"purpose": "A wider question", "reason": "committee opinion"},
              "amended"),
             ("renew", {"valid_until": until}, "renewed"),
             ("suspend", {"reason": "incident under review"}, "suspended"),
             ("resume", {}, "renewed"),
             ("revoke", {"reason": "end of the study"}, "revoked")]
    for decision, terms, status in steps:
        response = submit(signed, manager, sign_decision(key, HDH, decision, reference, terms))
        assert response.status_code == 200, (decision, response.text)
        assert response.json()["status"] == status
    assert response.json()["purpose"] == "A wider question"
    late = submit(signed, manager, sign_decision(key, HDH, "amend", reference,
                                                 {"purpose": "x", "reason": "too late"}))
    assert late.status_code == 409 and late.json()["error"]["code"] == \
        "permit.invalid_transition"
    kept = signed.get(f"/api/v1/permits/{reference}/decisions", headers=manager).json()
    assert [d["decision"] for d in kept["items"]] == [s[0] for s in steps]
    assert [d["permit_version"] for d in kept["items"]] == [1, 2, 3, 3, 3, 3]


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded["terms"]["purpose"] = "Something the issuer never signed"
    forged = base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _b64(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _forgeries(keys, terms: dict, reference: str) -> dict[str, tuple[str, int, str]]:
    hdh, other = keys["hdh"], keys["other"]
    good = sign_decision(hdh, HDH, "grant", reference, terms)
    payload = good.split(".")[1]
    stranger, _ = permit_issuer(keys["file"].parent, HDH)  # a key nobody trusts
    return {
        "payload changed after signing": (_tampered(good), 422, "permit.bad_signature"),
        "alg none": (f"{_b64({'alg': 'none', 'kid': hdh.kid, 'typ': TYPE})}.{payload}.",
                     422, "permit.bad_signature"),
        "HMAC keyed with the public key": (
            jws.serialize_compact({"alg": "HS256", "kid": hdh.kid, "typ": TYPE},
                                  base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)),
                                  OctKey.import_key(json.dumps(hdh.as_dict(private=False))),
                                  algorithms=["HS256"]),
            422, "permit.bad_signature"),
        "an unsigned JSON document": (json.dumps({"decision": "grant"}), 422,
                                      "permit.unsigned"),
        "another type of JWS": (sign_decision(hdh, HDH, "grant", reference, terms,
                                              header={"typ": "JWT"}), 422, "permit.unsigned"),
        "a key nobody trusts": (sign_decision(stranger, HDH, "grant", reference, terms), 403,
                                "permit.untrusted_issuer"),
        "another issuer's key": (sign_decision(other, HDH, "grant", reference, terms), 403,
                                 "permit.untrusted_issuer"),
        "terms that are not a permit": (sign_decision(hdh, HDH, "grant", reference,
                                                      {"purpose": "no dates, no people"}),
                                        422, "permit.bad_decision"),
    }


@pytest.mark.parametrize("case", [
    "payload changed after signing", "alg none", "HMAC keyed with the public key",
    "an unsigned JSON document", "another type of JWS", "a key nobody trusts",
    "another issuer's key", "terms that are not a permit"])
def test_forged_unsigned_and_foreign_decisions_are_refused(signed, manager, engine, keys, case):
    reference = unique("HDH-F").upper()
    token, status, code = _forgeries(keys, grant_terms(engine), reference)[case]
    before = len(events(engine, "permit.decision.refuse"))
    response = submit(signed, manager, token)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert signed.get(f"/api/v1/permits/{reference}", headers=manager).status_code == 404
    refused = events(engine, "permit.decision.refuse")
    assert len(refused) == before + 1 and refused[-1].outcome == "denied"
    assert refused[-1].details["code"] == code
    assert token not in json.dumps(refused[-1].details)


def test_a_replayed_decision_is_refused(signed, manager, engine, keys):
    reference = unique("HDH-R").upper()
    grant = sign_decision(keys["hdh"], HDH, "grant", reference, grant_terms(engine))
    assert submit(signed, manager, grant).status_code == 200
    suspend = sign_decision(keys["hdh"], HDH, "suspend", reference, {"reason": "incident"})
    assert submit(signed, manager, suspend).status_code == 200
    assert submit(signed, manager, sign_decision(keys["hdh"], HDH, "resume", reference))\
        .status_code == 200
    again = submit(signed, manager, suspend)  # the old suspension, sent once more
    assert again.status_code == 409 and again.json()["error"]["code"] == "permit.replayed"
    assert events(engine, "permit.decision.refuse")[-1].details["code"] == "permit.replayed"
    assert signed.get(f"/api/v1/permits/{reference}", headers=manager).json()["status"] \
        == "granted"


def test_an_issuer_decides_on_its_own_permits_only(signed, manager, engine, keys):
    reference = unique("HDH-O").upper()
    assert submit(signed, manager, sign_decision(keys["hdh"], HDH, "grant", reference,
                                                 grant_terms(engine))).status_code == 200
    foreign = submit(signed, manager, sign_decision(keys["other"], OTHER, "revoke", reference,
                                                    {"reason": "not ours"}))
    assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "permit.forbidden"
    assert signed.get(f"/api/v1/permits/{reference}", headers=manager).json()["status"] \
        == "granted"


def test_only_permit_managers_submit_decisions(signed, tokens, engine, keys):
    token = sign_decision(keys["hdh"], HDH, "grant", unique("HDH-X").upper(),
                          grant_terms(engine))
    for role in (Role.researcher, Role.auditor, Role.output_checker):
        assert submit(signed, auth(tokens[role]), token).status_code == 403


def test_without_trusted_issuers_decisions_are_refused(client, manager, engine, keys):
    token = sign_decision(keys["hdh"], HDH, "grant", unique("HDH-N").upper(),
                          grant_terms(engine))
    response = submit(client, manager, token)
    assert response.status_code == 403
    assert "SPE_PERMIT_ISSUERS_FILE" in response.json()["error"]["message"]


def test_a_broken_issuers_file_is_a_clear_503(settings, engine, manager, keys, tmp_path):
    private = tmp_path / "private.json"
    private.write_text(json.dumps({HDH: {"keys": [keys["hdh"].as_dict(private=True)]}}))
    with client_for(settings, engine, permit_issuers_file=private) as c:
        response = submit(c, manager, sign_decision(keys["hdh"], HDH, "grant", "HDH-B-1", {}))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "permit.issuers_file"
    assert "private key" in response.json()["error"]["message"]


def test_signature_required_refuses_unsigned_changes(settings, engine, manager, keys):
    with client_for(settings, engine, permit_issuers_file=keys["file"],
                    permits_require_signature=True) as c:
        dataset = make_dataset(engine)
        unsigned = c.post("/api/v1/permits", headers=manager,
                          json=permit_body(dataset, ["alice"]))
        assert unsigned.status_code == 403
        assert unsigned.json()["error"]["code"] == "permit.signature_required"
        reference = unique("HDH-Q").upper()
        assert submit(c, manager, sign_decision(keys["hdh"], HDH, "grant", reference,
                                                grant_terms(engine))).status_code == 200
        halt = c.post(f"/api/v1/permits/{reference}/suspend", headers=manager,
                      json={"reason": "unsigned"})
        assert halt.status_code == 403
    denied = events(engine, "access.denied")[-1]
    assert "only as signed decisions" in denied.details["reason"]
