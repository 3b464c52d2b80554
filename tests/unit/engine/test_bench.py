"""The benchmark scripts run, and the generator is reproducible."""

import collections

import orjson

from bench import gen_ops, matching


def test_the_same_seed_gives_the_same_ops(tmp_path):
    first, second, other = (tmp_path / name for name in ("a", "b", "c"))
    gen_ops.main(["--n", "2000", "--seed", "5", "--out", str(first)])
    gen_ops.main(["--n", "2000", "--seed", "5", "--out", str(second)])
    gen_ops.main(["--n", "2000", "--seed", "6", "--out", str(other)])
    assert first.read_bytes() == second.read_bytes() != other.read_bytes()


def test_the_mix_is_mostly_passive_with_cancels_and_some_aggression(tmp_path):
    path = tmp_path / "ops.jsonl"
    gen_ops.main(["--n", "5000", "--seed", "1", "--out", str(path)])
    ops = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    mix = collections.Counter(
        "cancel" if op["op"] == "cancel" else "passive" if op["tif"] == "GTC" else "aggressive" for op in ops
    )
    assert 0.5 < mix["passive"] / len(ops) < 0.6
    assert 0.3 < mix["cancel"] / len(ops) < 0.4
    assert 0.07 < mix["aggressive"] / len(ops) < 0.13


def test_the_matching_bench_reports_its_figures(tmp_path, capsys):
    path = tmp_path / "ops.jsonl"
    gen_ops.main(["--n", "3000", "--seed", "1", "--out", str(path)])
    assert matching.main(["--ops", str(path), "--memory-orders", "500"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("=")[0] for line in lines] == [
        "commands/s",
        "trades",
        "traded_qty",
        "resting",
        "bytes_per_resting_order",
    ]
    assert int(lines[1].split("=")[1]) > 0
