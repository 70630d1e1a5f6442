"""The egress airlock's workflow: intake, the review state machine, releases, the ledger.

:mod:`egress.workflow.review` is the one module that changes a request's status; the
others stage and quarantine files (:mod:`~egress.workflow.submission`), serve and release
them (:mod:`~egress.workflow.releases`) and keep the project's release ledger
(:mod:`~egress.workflow.ledger`). Tables are in :mod:`egress.workflow.models`.
"""
