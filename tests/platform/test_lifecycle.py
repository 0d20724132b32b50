"""The platform comes up and goes down cleanly, repeatedly, beside another platform."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from brandmon_devtools.platform import build, runtime


def test_second_platform_up_and_down_twice_leaves_nothing(
    platform: runtime.Platform, tmp_path: Path
) -> None:
    session_state = platform.load_state()
    assert session_state is not None
    other = runtime.Platform(tmp_path / "second")
    for _ in range(2):
        runtime.up(other)
        try:
            assert all(runtime.status(other).values()), runtime.status(other)
            state = other.load_state()
            assert state is not None
            # Two platforms side by side share no port.
            assert not set(state.ports.values()) & set(session_state.ports.values())
            assert len(runtime.processes(other.root)) >= len(runtime.COMPONENTS)
        finally:
            runtime.down(other)
        assert runtime.processes(other.root) == []
        assert not other.env_file.exists()
    # The session's platform was not disturbed.
    assert all(runtime.status(platform).values())


def test_a_component_that_fails_to_start_names_itself_and_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken_etcd = tmp_path / "etcd"
    broken_etcd.write_text(
        "#!/bin/sh\necho 'listen tcp 127.0.0.1: bind: address already in use'\nexit 1\n"
    )
    broken_etcd.chmod(0o755)

    def with_broken_etcd(*args: Any, **kwargs: Any) -> build.Binaries:
        return dataclasses.replace(build.ensure_all(*args, **kwargs), etcd=broken_etcd)

    monkeypatch.setattr(runtime, "ensure_all", with_broken_etcd)
    broken = runtime.Platform(tmp_path / "broken")
    with pytest.raises(runtime.PlatformError) as failure:
        runtime.up(broken)
    message = str(failure.value)
    assert message.startswith("etcd exited during start-up")
    assert str(broken.logs / "etcd.log") in message
    assert "address already in use" in message
    # Kafka and MinIO had been started beside etcd; none of them may be left running.
    assert runtime.processes(broken.root) == []
