"""The container registry protocol (/v2) with Quay's semantics: token auth, blobs, manifests, tags, quota."""

from reference_server.registry.app import RegistryApp

__all__ = ["RegistryApp"]
