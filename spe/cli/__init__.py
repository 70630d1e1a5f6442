"""The ``spe`` command line."""
