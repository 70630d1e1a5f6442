"""``spe dataset …``: the catalogue and its source files, for data stewards, through the API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, BinaryIO

import typer

from spe.cli.client import (
    EXIT_UNREACHABLE,
    ApiClient,
    Json,
    Token,
    Url,
    emit,
    fail,
    load_file,
    out,
)

app = typer.Typer(help="The dataset catalogue and its source files (data stewards; permit "
                       "managers and auditors read).", no_args_is_help=True)


@app.command("list")
def list_datasets(url: Url = None, token: Token = None, as_json: Json = False) -> None:
    """List the catalogue: each dataset, its holder, variables and source file."""
    def human(items: list[dict]) -> None:
        from rich.table import Table

        table = Table("name", "holder", "variables", "source", "description")
        for d in items:
            table.add_row(d["name"], d["holder"], str(len(d["variables"])),
                          d.get("source_uri") or "[yellow]none yet[/]", d["description"])
        out.print(table)
    emit(list(ApiClient(url, token).pages("/datasets")), as_json, human)


@app.command()
def register(file: Annotated[Path, typer.Argument(
                 help="YAML or JSON: name, holder, description, variables (each with name, "
                      "type, classification, description).")],
             url: Url = None, token: Token = None, as_json: Json = False) -> None:
    """Register a dataset in the catalogue (then upload its source with `spe dataset
    upload`)."""
    dataset = ApiClient(url, token).call("POST", "/datasets", load_file(file))
    emit(dataset, as_json, lambda d: out.print(
        f"dataset [bold]{d['name']}[/] registered with {len(d['variables'])} variable(s); "
        f"upload its source: spe dataset upload {d['name']} FILE"))


class _Counted:
    """A binary file that advances a progress bar as httpx reads it."""

    def __init__(self, stream: BinaryIO, advance) -> None:
        self.stream, self.advance = stream, advance

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        self.advance(len(chunk))
        return chunk

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


@app.command()
def upload(name: Annotated[str, typer.Argument(help="The dataset's name.")],
           file: Annotated[Path, typer.Argument(help="Its source file, CSV or Parquet.")],
           format_: Annotated[str | None, typer.Option(
               "--format", help="csv or parquet (default: from the file's extension).")]
           = None,
           url: Url = None, token: Token = None, as_json: Json = False) -> None:
    """Upload a dataset's source file, with a progress bar; the control plane checks its
    columns against the catalogue and refuses it (nothing kept) if they differ."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TransferSpeedColumn,
    )

    if not file.is_file():
        raise fail(f"no such file: {file}", code=EXIT_UNREACHABLE)
    client = ApiClient(url, token)
    columns = (TextColumn(f"upload {file.name}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn())
    with Progress(*columns, console=out, disable=as_json) as progress, \
            file.open("rb") as stream:
        bar = progress.add_task("upload", total=file.stat().st_size)
        counted = _Counted(stream, lambda n: progress.advance(bar, n))
        response = client.request("POST", f"/api/v1/datasets/{name}/sources",
                                  files={"file": (file.name, counted,
                                                  "application/octet-stream")},
                                  data={"format": format_} if format_ else None)
    emit(response.json(), as_json, lambda s: out.print(
        f"source of {s['dataset']} stored: {s['object_key']}, {s['rows']} rows, "
        f"{s['size']:,} bytes ({s['format']})"))
