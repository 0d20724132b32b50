"""The runtime's one decoding edge: every byte string a producer can write becomes a Record
or a reason, never an exception (the poll loop and start-up rebuilds both rely on it)."""

from __future__ import annotations

import pytest
from confluent_kafka import Message

from brandmon_workers.contract.messages import ScoredPost
from brandmon_workers.contract.topics import TopicRole
from brandmon_workers.runtime import MAX_INPUT_BYTES, Record, decode

GOOD = b'{"post_id":"p-1","username":"u","text_score":0.5,"final_score":0.5}'


def message(value: bytes | None, key: bytes | None = b"p-1") -> Message:
    return Message(topic="scored", partition=2, offset=7, key=key, value=value)


@pytest.mark.parametrize(
    ("value", "key", "reason"),
    [
        (b"{not json", b"k", "invalid scored-posts message"),
        (b"\xff\xfe\x00garbage", b"k", "invalid scored-posts message"),
        (b"[1, 2]", b"k", "invalid scored-posts message"),
        (b"null", b"k", "invalid scored-posts message"),
        (None, b"k", "invalid scored-posts message"),  # a tombstone
        (b"[" * 5000 + b"]" * 5000, b"k", "invalid scored-posts message"),
        (b'{"post_id":"' + b"a" * MAX_INPUT_BYTES + b'"}', b"k", f"exceeds {MAX_INPUT_BYTES}"),
        (GOOD, b"\xffodd", "key is not UTF-8"),
    ],
    ids=["bad-json", "binary", "array", "null", "tombstone", "deep", "huge", "odd-key"],
)
def test_what_cannot_be_decoded_is_a_reason_not_an_exception(
    value: bytes | None, key: bytes, reason: str
) -> None:
    decoded = decode(message(value, key), TopicRole.SCORED_POSTS, ScoredPost)
    assert isinstance(decoded, str)
    assert reason in decoded


def test_a_good_message_becomes_a_typed_record() -> None:
    decoded = decode(message(GOOD), TopicRole.SCORED_POSTS, ScoredPost)
    assert isinstance(decoded, Record)
    assert (decoded.topic, decoded.partition, decoded.offset, decoded.key) == (
        "scored",
        2,
        7,
        "p-1",
    )
    assert decoded.value == ScoredPost(post_id="p-1", username="u", text_score=0.5, final_score=0.5)


def test_a_message_without_a_key_is_still_a_record() -> None:
    decoded = decode(message(GOOD, key=None), TopicRole.SCORED_POSTS, ScoredPost)
    assert isinstance(decoded, Record)
    assert decoded.key is None
