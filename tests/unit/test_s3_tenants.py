"""The per-namespace MinIO user's name and policy (brandmon_devtools.s3_tenants)."""

from __future__ import annotations

import pytest

from brandmon_devtools import s3_tenants


def test_access_keys_fit_minio_and_differ_per_namespace() -> None:
    long = "n" * 63
    keys = {s3_tenants.access_key(ns) for ns in ("a", "a-b", "ab", long)}
    assert len(keys) == 4
    assert all(3 <= len(key) <= 20 for key in keys)  # MinIO's bounds for an access key
    assert s3_tenants.access_key("shop") == s3_tenants.access_key("shop")


def test_the_policy_allows_only_objects_under_the_namespace_folder() -> None:
    policy = s3_tenants.policy("media", "shop")
    assert policy["Statement"] == [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            # The slash keeps "shop-eu/" out of "shop"'s reach.
            "Resource": ["arn:aws:s3:::media/shop/*"],
        }
    ]


def test_shared_prefixes_are_read_only_and_whole_folders() -> None:
    policy = s3_tenants.policy("media", "shop", ["s3://recordings/shared/", "s3://media/demo/"])
    assert policy["Statement"][1] == {
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": ["arn:aws:s3:::media/demo/*", "arn:aws:s3:::recordings/shared/*"],
    }


@pytest.mark.parametrize("prefix", ["s3://recordings/shared", "https://x/y/", "s3:///a/"])
def test_a_prefix_that_is_not_a_folder_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="not an s3://bucket/folder/ prefix"):
        s3_tenants.policy("media", "shop", [prefix])
