"""The known-hosts file is parsed once per change and answers per host as paramiko would."""
from __future__ import annotations

from pathlib import Path

import paramiko

from asterisk_pipeline.pbx.ssh import known_host_keys


def _line(name: str, key: paramiko.PKey) -> str:
    return f"{name} {key.get_name()} {key.get_base64()}\n"


def test_keys_per_host_plain_and_hashed_and_after_an_append(tmp_path: Path) -> None:
    first, second, third = (paramiko.ECDSAKey.generate() for _ in range(3))
    path = tmp_path / "known_hosts"
    hashed = paramiko.HostKeys.hash_host("[127.0.2.2]:5059")
    path.write_text(_line("[127.0.2.1]:5059", first) + _line(hashed, second))

    assert known_host_keys(path, "[127.0.2.1]:5059") == {first.get_name(): first}
    assert known_host_keys(path, "[127.0.2.2]:5059") == {second.get_name(): second}
    assert known_host_keys(path, "[127.0.2.1]:22") == {}
    assert known_host_keys(path, "127.0.2.3") == {}

    with path.open("a") as handle:  # what trust-on-first-use does: the next lookup sees it
        handle.write(_line("127.0.2.3", third))
    assert known_host_keys(path, "127.0.2.3") == {third.get_name(): third}


def test_a_missing_file_knows_no_host(tmp_path: Path) -> None:
    assert known_host_keys(tmp_path / "absent", "[127.0.2.1]:5059") == {}
