"""The recording Kubernetes API server of tests/kubernetes, for the chart's RBAC tests."""

from tests.kubernetes.conftest import fake_api, kube  # noqa: F401  (fixtures)
