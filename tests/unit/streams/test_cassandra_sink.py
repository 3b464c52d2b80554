"""How the recorder's rows are grouped into Cassandra requests."""

from hypothesis import given
from hypothesis import strategies as st

from streams.cassandra_sink import BATCH_BYTES, requests_of
from streams.read_model import Write


def _write(partition: int, size: int = 10) -> Write:
    return Write("balance", ("x" * size, "USDC", 1, 2), 1, ("account", f"u{partition}"))


def test_a_take_of_small_rows_is_one_request_sorted_by_partition():
    writes = [_write(p) for p in (3, 1, 2, 1, 3)]
    (request,) = requests_of(writes)
    assert [w.partition[1] for w in request] == ["u1", "u1", "u2", "u3", "u3"]


def test_requests_are_cut_by_rows_and_by_bytes():
    assert [len(r) for r in requests_of([_write(p) for p in range(450)], max_rows=200)] == [200, 200, 50]
    big = [_write(p, size=10_000) for p in range(5)]
    assert [len(r) for r in requests_of(big)] == [2, 2, 1]  # 2 x ~10 kB under 24 kB


def test_a_row_larger_than_a_batch_goes_alone():
    writes = [_write(1), _write(2, size=BATCH_BYTES * 2), _write(3)]
    assert [[w.partition[1] for w in r] for r in requests_of(writes)] == [["u1"], ["u2"], ["u3"]]


@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20_000)), max_size=300))
def test_every_write_is_sent_once_and_requests_stay_within_bounds(rows):
    writes = [_write(p, size) for p, size in rows]
    requests = requests_of(writes)
    sent = [w for r in requests for w in r]
    assert sorted(sent, key=id) == sorted(writes, key=id)
    for request in requests:
        assert 0 < len(request) <= 200
        assert len(request) == 1 or sum(len(w.values[0]) for w in request) <= BATCH_BYTES
