"""``python -m spe``: the same as the ``spe`` command."""

from spe.cli.main import app

app(prog_name="spe")
