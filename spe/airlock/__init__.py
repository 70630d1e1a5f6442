"""The airlock: the egress workflow as a domain service beside the permit lifecycle —
intake, the review state machine, releases and their publishing, the ledger.

The disclosure-control library it calls (checks, SDC, differencing, manifests) is
:mod:`egress`, which needs no database; the airlock owns the tables and the audit.

:mod:`spe.airlock.review` is the one module that changes a request's status; the
others stage and quarantine files (:mod:`~spe.airlock.submission`), serve and release
them (:mod:`~spe.airlock.releases`) and keep the project's release ledger
(:mod:`~spe.airlock.ledger`); :mod:`~spe.airlock.publish` writes releases to storage.
Tables are in :mod:`spe.airlock.models`.
"""
