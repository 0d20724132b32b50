"""An S3 identity per tenant namespace on MinIO: the administrator's part of S3 isolation.

The operator keeps every monitor's keys under `s3://<bucket>/<namespace>/` and its workers
check each key, but that binds only what the monitors ask for: a tenant's own Pod holding
the same S3 key could read whatever that key may. So the local platform and the demo give
each namespace a MinIO user whose policy allows objects under that prefix alone (plus the
read-only prefixes an administrator shares), and put its keys in the namespace's Secret
that the operator's `s3_credentials_secret` names. MinIO itself then refuses another
tenant's objects. README, "Multi-tenancy and security", says what an administrator on AWS
does instead (an IAM policy of the same shape).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from minio.credentials.providers import StaticProvider
from minio.minioadmin import MinioAdmin

# MinIO takes access keys of at most 20 characters; namespaces reach 63.
_KEY_HASH_CHARS = 16
ACCESS_KEY_ENV = "AWS_ACCESS_KEY_ID"
SECRET_KEY_ENV = "AWS_SECRET_ACCESS_KEY"  # noqa: S105 - the variable's name


def access_key(namespace: str) -> str:
    """Return the MinIO user (access key) of `namespace`: a hash, since names are too long."""
    digest = hashlib.sha256(namespace.encode()).hexdigest()[:_KEY_HASH_CHARS]
    return f"ns-{digest}"


def policy_name(namespace: str) -> str:
    """Return the name of `namespace`'s canned policy."""
    return f"brandmon-{access_key(namespace)}"


def new_secret_key() -> str:
    """Return a fresh secret key (hex: MinIO takes 8 to 40 characters)."""
    return secrets.token_hex(16)


def _object_arn(uri_prefix: str) -> str:
    parts = urlsplit(uri_prefix)
    if parts.scheme != "s3" or not parts.netloc or not parts.path.endswith("/"):
        msg = f"not an s3://bucket/folder/ prefix: {uri_prefix!r}"
        raise ValueError(msg)
    return f"arn:aws:s3:::{parts.netloc}{parts.path}*"


def policy(bucket: str, namespace: str, read_prefixes: Sequence[str] = ()) -> dict[str, Any]:
    """Return the IAM policy of `namespace`: read and write under its prefix, nothing else.

    `read_prefixes` are `s3://bucket/folder/` URIs the namespace may also read (the
    operator's `s3_allowed_prefixes` for it). Workers only get, head and put objects, so no
    listing or deletion is granted.
    """
    statements: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": [f"arn:aws:s3:::{bucket}/{namespace}/*"],
        }
    ]
    if read_prefixes:
        statements.append(
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": sorted({_object_arn(prefix) for prefix in read_prefixes}),
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def provision(
    endpoint_url: str,
    root: dict[str, str],
    *,
    bucket: str,
    namespace: str,
    secret_key: str,
    read_prefixes: Sequence[str] = (),
) -> dict[str, str]:
    """Make (or update) `namespace`'s MinIO user and policy; return its keys as env values.

    `root` holds MinIO's root keys under AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY. Calling it
    again with the same `secret_key` changes nothing, so a Secret that keeps the key keeps
    working pods' keys valid.
    """
    parts = urlsplit(endpoint_url)
    admin = MinioAdmin(
        endpoint=parts.netloc,
        credentials=StaticProvider(root[ACCESS_KEY_ENV], root[SECRET_KEY_ENV]),
        secure=parts.scheme == "https",
    )
    user = access_key(namespace)
    admin.user_add(user, secret_key)
    name = policy_name(namespace)
    admin.policy_add(name, policy=policy(bucket, namespace, read_prefixes))
    admin.policy_set(name, user=user)
    return {ACCESS_KEY_ENV: user, SECRET_KEY_ENV: secret_key}
