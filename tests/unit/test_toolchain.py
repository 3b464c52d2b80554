"""The local runner explains what is missing instead of failing somewhere inside Java or Maven."""

from __future__ import annotations

import pytest

from infra.local import toolchain


@pytest.fixture
def bare_machine(monkeypatch, tmp_path):
    """A machine with no java or mvn on PATH, no JAVA_HOME and no JDK directory."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(toolchain, "JDK_GLOB", str(tmp_path / "jvm" / "*" / "bin" / "java"))


def test_missing_java_names_what_to_install_and_the_docker_route(bare_machine):
    with pytest.raises(toolchain.ToolchainError) as error:
        toolchain.find_java()
    message = str(error.value)
    assert "Java 17" in message and "docker compose" in message


def test_missing_maven_names_what_to_install_and_the_docker_route(bare_machine):
    with pytest.raises(toolchain.ToolchainError) as error:
        toolchain.find_maven()
    message = str(error.value)
    assert "maven" in message.lower() and "docker compose" in message


def test_an_old_java_is_refused(monkeypatch, tmp_path, bare_machine):
    old_java = tmp_path / "java"
    old_java.write_text('#!/bin/sh\necho \'openjdk version "11.0.2" 2019-01-15\' >&2\n')
    old_java.chmod(0o755)
    with pytest.raises(toolchain.ToolchainError, match="Java 11"):
        toolchain.find_java()


def test_java_17_is_found_on_this_machine():
    assert toolchain.find_java().major >= 17
