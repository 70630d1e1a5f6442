"""Runtimes: where workspaces run, registered by a short name (setting ``SPE_RUNTIME``) in
:mod:`controllers.runtimes.registry`; the contract they keep is :mod:`.base`."""
