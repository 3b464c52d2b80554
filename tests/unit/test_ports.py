"""Ports for test and benchmark servers stay clear of the ports the kernel hands to clients."""

from __future__ import annotations

import socket

from infra.local import ports


def test_ports_come_from_below_the_ephemeral_range_and_never_twice():
    low, _ = ports.ephemeral_range()
    drawn = [ports.free_port() for _ in range(300)]
    assert all(ports.LOWEST <= port < low for port in drawn)
    assert len(set(drawn)) == len(drawn)


def test_a_port_something_listens_on_is_skipped(monkeypatch):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        taken = server.getsockname()[1]
        candidates = iter([taken, 23_456])
        monkeypatch.setattr(ports, "ephemeral_range", lambda: (60_000, 61_000))
        monkeypatch.setattr(ports.random, "randrange", lambda low, high: next(candidates))
        monkeypatch.setattr(ports, "_handed_out", set())
        assert ports.free_port() == 23_456


def test_a_port_handed_out_before_is_skipped(monkeypatch):
    candidates = iter([23_457, 23_457, 23_458])
    monkeypatch.setattr(ports.random, "randrange", lambda low, high: next(candidates))
    monkeypatch.setattr(ports, "_handed_out", set())
    assert ports.free_port() == 23_457
    assert ports.free_port() == 23_458


def test_a_range_with_no_room_below_it_falls_back_to_the_kernels_choice(monkeypatch):
    monkeypatch.setattr(ports, "ephemeral_range", lambda: (1_024, 65_535))
    port = ports.free_port()
    assert not ports.port_taken("127.0.0.1", port)
    assert port >= 1_024
