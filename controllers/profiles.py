"""Workspace profiles (``policies/workspace-profiles/<name>.yaml``) as runtime types."""

from controllers.runtimes.kubernetes.profiles import load_profile

__all__ = ["load_profile"]
