"""The release described as a Five Safes RO-Crate (profile 0.4, https://w3id.org/5s-crate/0.4).

The crate's root dataset conforms to the profile, names the responsible project (the permit)
as ``sourceOrganization`` and mentions the analysis (a ``CreateAction`` by the requester
whose ``result`` is the released files) and the assessments the profile expects: the
integrity check of the content hashes (``shp:CheckValue``), the automated disclosure check
and each reviewer's disclosure check (``shp:DisclosureCheck``).

One departure from the profile, which was written for workflow runs: spe releases the
results of interactive analysis in a workspace, so ``mainEntity`` and the action's
``instrument`` point at the project workspace, not at a Workflow RO-Crate.
"""

from __future__ import annotations

RO_CRATE = "https://w3id.org/ro/crate/1.2"
PROFILE = "https://w3id.org/5s-crate/0.4"
SHP = "https://w3id.org/shp#"
COMPLETED = "http://schema.org/CompletedActionStatus"
FAILED = "http://schema.org/FailedActionStatus"
SHA256 = "https://www.iana.org/assignments/named-information#sha-256"
OUTPUTS = "outputs/"


def build_crate(manifest: dict, *, platform_url: str) -> dict:
    """``ro-crate-metadata.json`` for a release manifest (files under ``outputs/``)."""
    release = manifest["release_id"]
    project = f"#project-{manifest['project_id']}"
    requester = f"#person-{manifest['requester']}"
    workspace = f"#workspace-{manifest['project_id']}"
    platform = platform_url.rstrip("/") + "/"
    checker = f"{platform}#sdc-checks"
    analysis = f"#analysis-{manifest['request_id']}"
    released_at = manifest["released_at"]
    files = [f"{OUTPUTS}{f['name']}" for f in manifest["files"]]

    assessments = [{
        "@id": f"#integrity-{release}", "@type": "AssessAction",
        "additionalType": {"@id": f"{SHP}CheckValue"},
        "name": "SHA-256 of every released file verified against quarantine: OK",
        "endTime": released_at, "object": [{"@id": "./"}, *({"@id": f} for f in files)],
        "instrument": {"@id": SHA256}, "agent": {"@id": checker},
        "actionStatus": COMPLETED,
    }, {
        "@id": f"#sdc-{release}", "@type": "AssessAction",
        "additionalType": {"@id": f"{SHP}DisclosureCheck"},
        "name": "Automated disclosure checks (policy pack "
                f"{manifest['policy_pack']['name']} {manifest['policy_pack']['version']}): "
                + ", ".join(f"{f['name']}: {f['check'].get('outcome', '?')}"
                            for f in manifest["files"]),
        "endTime": released_at, "object": [{"@id": "./"}, *({"@id": f} for f in files)],
        "instrument": {"@id": f"#pack-{manifest['policy_pack']['name']}"},
        "agent": {"@id": checker}, "actionStatus": COMPLETED,
    }]
    reviewers: dict[str, dict] = {}
    for f in manifest["files"]:
        for i, vote in enumerate(f["votes"]):
            reviewer = f"#person-{vote['reviewer']}"
            reviewers[reviewer] = {"@id": reviewer, "@type": "Person",
                                   "name": vote["reviewer"]}
            assessments.append({
                "@id": f"#review-{release}-{f['sha256'][:12]}-{i}", "@type": "AssessAction",
                "additionalType": {"@id": f"{SHP}DisclosureCheck"},
                "name": f"Output check of {f['name']} by {vote['reviewer']}: "
                        f"{vote['decision']}",
                "endTime": vote["at"], "object": {"@id": f"{OUTPUTS}{f['name']}"},
                "agent": {"@id": reviewer},
                "actionStatus": COMPLETED if vote["decision"] == "approve" else FAILED,
            })

    graph = [
        {"@id": "ro-crate-metadata.json", "@type": "CreativeWork",
         "about": {"@id": "./"}, "conformsTo": {"@id": RO_CRATE}},
        {"@id": "./", "@type": "Dataset", "name": manifest["title"],
         "description": f"Outputs released from project {manifest['project_id']} under "
                        f"permit {manifest['permit']['reference']}",
         "identifier": f"urn:uuid:{_uuid(release)}",
         "conformsTo": {"@id": PROFILE}, "datePublished": released_at,
         "publisher": {"@id": platform},
         "license": {"@id": "#release-conditions"},
         "hasPart": [{"@id": "manifest.json"}, *({"@id": f} for f in files)],
         "mainEntity": {"@id": workspace},
         "mentions": [{"@id": analysis}, *({"@id": a["@id"]} for a in assessments)],
         "sourceOrganization": {"@id": project}},
        {"@id": PROFILE, "@type": "Profile", "name": "Five Safes RO-Crate profile"},
        {"@id": platform, "@type": "Organization", "name": "spe secure processing environment"},
        {"@id": checker, "@type": "SoftwareApplication", "name": "spe disclosure checks",
         "provider": {"@id": platform}},
        {"@id": "#release-conditions", "@type": "CreativeWork",
         "name": "Released under the conditions of permit "
                 f"{manifest['permit']['reference']}"},
        {"@id": project, "@type": "Project", "name": manifest["title"],
         "identifier": [{"@id": f"_:permit:{manifest['permit']['reference']}"}]},
        {"@id": f"_:permit:{manifest['permit']['reference']}", "@type": "PropertyValue",
         "name": "permit", "value": manifest["permit"]["reference"]},
        {"@id": requester, "@type": "Person", "name": manifest["requester"],
         "memberOf": [{"@id": project}]},
        {"@id": workspace, "@type": "Dataset",
         "name": f"Workspace of project {manifest['project_id']} (interactive analysis)"},
        {"@id": f"#pack-{manifest['policy_pack']['name']}", "@type": "CreativeWork",
         "name": f"SDC policy pack {manifest['policy_pack']['name']}",
         "version": manifest["policy_pack"]["version"]},
        {"@id": SHA256, "@type": "DefinedTerm", "name": "sha-256 algorithm"},
        {"@id": analysis, "@type": "CreateAction", "name": manifest["title"],
         "actionStatus": COMPLETED, "agent": {"@id": requester},
         "instrument": {"@id": workspace}, "endTime": released_at,
         "result": [{"@id": f} for f in files]},
        {"@id": "manifest.json", "@type": "File", "encodingFormat": "application/json",
         "name": "Signed release manifest (signature in manifest.sig, Ed25519)"},
        *({"@id": f"{OUTPUTS}{f['name']}", "@type": "File", "name": f["name"],
           "description": f["description"], "contentSize": str(f["size"]),
           "sha256": f["sha256"]} for f in manifest["files"]),
        *reviewers.values(),
        *assessments,
    ]
    return {"@context": f"{RO_CRATE}/context", "@graph": graph}


def _uuid(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:32]}"
