"""The recording Kubernetes API server (testsupport.kubeapi), for the chart's RBAC tests."""

from tests.fixtures.kubernetes import fake_api, kube  # noqa: F401  (fixtures)
