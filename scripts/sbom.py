"""A CycloneDX SBOM of a container image's root filesystem: Debian and Python packages.

Usage: python scripts/sbom.py ROOTFS NAME VERSION > NAME.cdx.json

Reads what is installed without running anything from the image: dpkg's status database
(``var/lib/dpkg/status``) and the ``*.dist-info`` metadata of every virtualenv under
``opt/`` (where spe's Dockerfiles install Python packages). The document is written with
cyclonedx-python-lib and validated against the CycloneDX 1.6 JSON schema before it is
printed; a package whose metadata cannot be read stops the script (fail, never a silent gap).
"""

from __future__ import annotations

import sys
from importlib.metadata import distributions
from pathlib import Path

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL


def debian_packages(root: Path) -> list[Component]:
    """Installed packages from dpkg's status file (deb822 paragraphs)."""
    status = (root / "var/lib/dpkg/status").read_text(encoding="utf-8")
    components = []
    for paragraph in status.split("\n\n"):
        fields = {}
        for line in paragraph.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if not fields or fields.get("Status") != "install ok installed":
            continue
        name, version, arch = fields["Package"], fields["Version"], fields["Architecture"]
        purl = PackageURL("deb", "debian", name, version,
                          {"arch": arch, "distro": "debian-12"})
        components.append(Component(type=ComponentType.LIBRARY, name=name, version=version,
                                    purl=purl, bom_ref=purl.to_string()))
    return components


def python_packages(root: Path) -> list[Component]:
    """Distributions installed in the image's virtualenvs (``opt/*/lib/python3*/``)."""
    paths = [str(p) for p in sorted(root.glob("opt/*/lib/python3*/site-packages"))]
    licenses = LicenseFactory()
    components = {}
    for dist in distributions(path=paths):
        name, version = dist.metadata["Name"], dist.version
        if not name or not version:
            raise SystemExit(f"unreadable Python package metadata in {dist._path}")
        purl = PackageURL("pypi", None, name.lower().replace("_", "-"), version)
        expression = dist.metadata.get("License-Expression")
        component = Component(type=ComponentType.LIBRARY, name=name, version=version,
                              purl=purl, bom_ref=purl.to_string())
        if expression:
            component.licenses.add(licenses.make_from_string(expression))
        components[purl.to_string()] = component
    return list(components.values())


def main(rootfs: str, name: str, version: str) -> None:
    root = Path(rootfs)
    debian, python = debian_packages(root), python_packages(root)
    if not debian or not python:
        raise SystemExit(f"{rootfs}: found {len(debian)} Debian and {len(python)} Python "
                         "packages; an image of spe has both")
    bom = Bom()
    bom.metadata.component = Component(type=ComponentType.CONTAINER, name=name,
                                       version=version, bom_ref=f"{name}@{version}")
    for component in debian + python:
        bom.components.add(component)
    bom.register_dependency(bom.metadata.component, debian + python)
    document = JsonV1Dot6(bom).output_as_string(indent=1)
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(document)
    if error:
        raise SystemExit(f"the SBOM of {name} does not validate: {error}")
    print(document)
    print(f"{name}: {len(debian)} Debian and {len(python)} Python packages", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:])
