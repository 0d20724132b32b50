"""The Kafka administrator's sign-in, for the scripts the demo runs in the receiver's pod.

The demo's broker takes only SASL/SCRAM from pods (platform/kind/demo/infra.yaml); the
administrator's password reaches this pod from the Secret kafka-admin, by reference.
"""

from __future__ import annotations

import os


def config(bootstrap: str) -> dict[str, str]:
    """Return librdkafka properties signing in to `bootstrap` as the administrator."""
    return {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": os.environ["KAFKA_ADMIN_USER"],
        "sasl.password": os.environ["KAFKA_ADMIN_PASSWORD"],
    }
