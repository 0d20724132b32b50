"""The operator's only door to the Kubernetes API for children: list, apply, delete.

Everything is server-side apply under one field manager, so the operator owns exactly the
fields it sets and users (or other controllers) keep theirs. Objects cross this boundary
as plain dicts, the same shape the builders produce.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from kubernetes import client

from brandmon_operator.diff import Key, Manifest, owned_by

FIELD_MANAGER = "brandmon-operator"
APPLY = "application/apply-patch+yaml"


def _json(response: Any) -> dict[str, Any]:
    """Read an unparsed API response as plain JSON.

    Lists are read this way because the typed models cost several times the time and
    memory of the JSON and are converted back to plain dicts anyway; at hundreds of
    monitors, list deserialisation dominated the operator's CPU and peak memory.
    """
    try:
        parsed: dict[str, Any] = json.loads(response.data)
    finally:
        response.release_conn()
    return parsed


class SecretUnavailable(RuntimeError):  # noqa: N818 - a state, like KafkaUnavailable
    """A Secret a monitor refers to is missing, lacks the key, or cannot be read."""


@dataclass(frozen=True)
class _Kind:
    list: Callable[..., Any]
    read: Callable[..., Any]
    patch: Callable[..., Any]
    delete: Callable[..., Any]


class Cluster:
    """Typed-client operations on the kinds a BrandMonitor owns."""

    KINDS = ("ConfigMap", "CronJob", "Deployment")

    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client
        core = client.CoreV1Api(api_client)
        batch = client.BatchV1Api(api_client)
        apps = client.AppsV1Api(api_client)
        self._kinds = {
            "ConfigMap": _Kind(
                core.list_namespaced_config_map,
                core.read_namespaced_config_map,
                core.patch_namespaced_config_map,
                core.delete_namespaced_config_map,
            ),
            "CronJob": _Kind(
                batch.list_namespaced_cron_job,
                batch.read_namespaced_cron_job,
                batch.patch_namespaced_cron_job,
                batch.delete_namespaced_cron_job,
            ),
            "Deployment": _Kind(
                apps.list_namespaced_deployment,
                apps.read_namespaced_deployment,
                apps.patch_namespaced_deployment,
                apps.delete_namespaced_deployment,
            ),
        }

    def _plain(self, obj: object) -> Manifest:
        plain = self.api_client.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
        assert isinstance(plain, dict)
        return plain

    def list_children(self, namespace: str, selector: str) -> dict[Key, Manifest]:
        """Return every child carrying the selector's labels, by (kind, name)."""
        found: dict[Key, Manifest] = {}
        for kind, ops in self._kinds.items():
            listed = _json(ops.list(namespace, label_selector=selector, _preload_content=False))
            # Items of a list carry neither kind nor apiVersion; the list has the latter.
            for item in listed["items"]:
                found[kind, item["metadata"]["name"]] = item | {
                    "kind": kind,
                    "apiVersion": listed["apiVersion"],
                }
        return found

    def list_pods(self, namespace: str, selector: str) -> list[Manifest]:
        """Return the pods carrying the selector's labels, as plain manifests."""
        listed = client.CoreV1Api(self.api_client).list_namespaced_pod(
            namespace, label_selector=selector, _preload_content=False
        )
        items: list[Manifest] = _json(listed)["items"]
        return items

    def read(self, kind: str, namespace: str, name: str) -> Manifest | None:
        """Return a child-kind object by name, whoever owns it, or None when there is none."""
        try:
            found = self._kinds[kind].read(name, namespace)
        except client.exceptions.ApiException as error:
            if error.status == HTTPStatus.NOT_FOUND:
                return None
            raise
        return self._plain(found)

    def apply(self, manifest: Manifest) -> Manifest:
        """Server-side apply a child this monitor controls, taking over conflicting fields."""
        meta = manifest["metadata"]
        result = self._kinds[manifest["kind"]].patch(
            meta["name"], meta["namespace"], manifest,
            field_manager=FIELD_MANAGER, force=True, _content_type=APPLY,
        )  # fmt: skip
        return self._plain(result)

    def read_secret(self, namespace: str, name: str, key: str) -> tuple[str, dict[str, str]]:
        """Return one key of a Secret, decoded, and the Secret's annotations.

        Callers must never log the value. Raises SecretUnavailable when the Secret or the
        key is missing or unreadable.
        """
        try:
            secret = client.CoreV1Api(self.api_client).read_namespaced_secret(name, namespace)
        except client.exceptions.ApiException as error:
            if error.status in (HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND):
                missing = error.status == HTTPStatus.NOT_FOUND
                reason = "not found" if missing else "not readable by the operator"
                msg = f"Secret {namespace}/{name}: {reason}"
                raise SecretUnavailable(msg) from None
            raise
        data = secret.data or {}
        if key not in data:
            msg = f"Secret {namespace}/{name} has no key {key!r}"
            raise SecretUnavailable(msg)
        annotations = dict((secret.metadata and secret.metadata.annotations) or {})
        return base64.b64decode(data[key]).decode(), annotations

    def owned_secret(self, manifest: Manifest, key: str, owner_uid: str) -> str | None:
        """Return `key` of the Secret `manifest` describes, creating it when there is none.

        `manifest` carries the value to use if the Secret must be made (stringData). None
        when a Secret of that name exists that the owner does not control: it is never
        taken over. An owned Secret that lost the key gets it back. Callers must never log
        the value.
        """
        core = client.CoreV1Api(self.api_client)
        meta = manifest["metadata"]
        name, namespace = meta["name"], meta["namespace"]
        for _ in range(3):
            try:
                found = self._plain(core.read_namespaced_secret(name, namespace))
            except client.exceptions.ApiException as error:
                if error.status != HTTPStatus.NOT_FOUND:
                    raise
                try:
                    # The client sends a plain dict as it is (its stubs want a V1Secret).
                    core.create_namespaced_secret(namespace, manifest, field_manager=FIELD_MANAGER)  # type: ignore[arg-type]
                except client.exceptions.ApiException as create_error:
                    if create_error.status == HTTPStatus.CONFLICT:
                        continue  # made meanwhile (another reconcile): read that one
                    raise
                value: str = manifest["stringData"][key]
                return value
            if not owned_by(found, owner_uid):
                return None
            data = found.get("data") or {}
            if key in data:
                return base64.b64decode(data[key]).decode()
            patch = {"stringData": {key: manifest["stringData"][key]}}
            core.patch_namespaced_secret(name, namespace, patch, field_manager=FIELD_MANAGER)
        msg = f"Secret {namespace}/{name} kept changing while it was read"
        raise SecretUnavailable(msg)

    def delete(self, kind: str, namespace: str, name: str) -> None:
        """Delete a child; its own dependents (Jobs, ReplicaSets) go in the background."""
        try:
            self._kinds[kind].delete(name, namespace, propagation_policy="Background")
        except client.exceptions.ApiException as error:
            if error.status != 404:  # noqa: PLR2004 - already gone is done
                raise
