"""`exchange logs`: the processes' files merged in time order and filtered by the ids lines carry."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import orjson

from exchange import log_view
from exchange.cli import main


def line(ts: str, process: str, message: str, level: str = "info", **ids) -> str:
    return orjson.dumps({"ts": f"2026-11-22T10:00:{ts}Z", "level": level, "process": process, "logger": "x",
                         "message": message, **ids}).decode()


def write(path, *lines: str) -> None:
    with open(path, "a") as file:
        file.write("".join(f"{text}\n" for text in lines))


def test_files_merge_in_time_order_with_text_lines_kept_under_their_entry(tmp_path):
    write(tmp_path / "api.log", "uvicorn says hello", line("01.000", "api", "order placed", order_id=7),
          line("04.000", "api", "order canceled", order_id=7))
    write(tmp_path / "worker-1.log", line("02.000", "worker-1", "boom", "error"), "Traceback (most recent call last):",
          '  File "x.py", line 1', line("03.000", "worker-1", "trade", "debug", trade_id=3, maker_order_id=7))
    printed: list[str] = []
    assert log_view.show(tmp_path, log_view.Filter(), out=printed.append) == 5
    assert [p.split()[0] for p in printed] == ["uvicorn", "2026-11-22T10:00:01.000Z", "2026-11-22T10:00:02.000Z",
                                             "2026-11-22T10:00:03.000Z", "2026-11-22T10:00:04.000Z"]
    assert printed[2].splitlines()[1:] == ["    Traceback (most recent call last):", '      File "x.py", line 1']


def test_an_orders_trail_includes_the_trades_it_made_and_levels_and_time_narrow_it(tmp_path):
    write(tmp_path / "api.log", line("01.000", "api", "order placed", order_id=7, account="ana"),
          line("01.500", "api", "order placed", order_id=8, account="bo"))
    write(tmp_path / "worker-1.log", line("02.000", "worker-1", "trade", "debug", trade_id=3, taker_order_id=7),
          line("03.000", "worker-1", "command refused", "warning", order_id=7, reason="insufficient_funds"))

    def messages(wanted: log_view.Filter) -> list[str]:
        printed: list[str] = []
        log_view.show(tmp_path, wanted, as_json=True, out=printed.append)
        return [orjson.loads(p)["message"] for p in printed]

    assert messages(log_view.Filter({"order": "7"})) == ["order placed", "trade", "command refused"]
    assert messages(log_view.Filter({"account": "bo"})) == ["order placed"]
    assert messages(log_view.Filter({"order": "7"}, level="warning")) == ["command refused"]
    assert messages(log_view.Filter(since="2026-11-22T10:00:01.600Z")) == ["trade", "command refused"]
    assert messages(log_view.Filter({"order": "7", "account": "bo"})) == []


def test_since_takes_a_span_back_from_now_or_a_time():
    now = datetime(2026, 11, 22, 10, 30, 0, 250_000, tzinfo=timezone.utc)
    assert log_view.since("10m", now) == "2026-11-22T10:20:00.250Z"
    assert log_view.since("1d", now) == "2026-11-21T10:30:00.250Z"
    assert log_view.since("2026-11-22T09:00:00Z") == "2026-11-22T09:00:00.000Z"


def test_following_prints_what_is_written_later_in_the_new_files_too(tmp_path):
    write(tmp_path / "api.log", line("01.000", "api", "first"))
    printed: list[str] = []

    def more() -> None:
        time.sleep(0.3)
        write(tmp_path / "api.log", line("02.000", "api", "second"))
        write(tmp_path / "ws.log", line("03.000", "ws", "third"))

    writer = threading.Thread(target=more)
    writer.start()

    def out(text: str) -> None:
        printed.append(text)
        if len(printed) == 3:
            raise KeyboardInterrupt  # as Ctrl-C ends `exchange logs -f`

    try:
        log_view.show(tmp_path, log_view.Filter(), follow=True, out=out, poll_s=0.05)
    except KeyboardInterrupt:
        pass
    writer.join()
    assert [p.split()[3] for p in printed] == ["first", "second", "third"]


def test_the_command_line_reads_the_directory_it_is_given(tmp_path, capsys):
    write(tmp_path / "api.log", line("01.000", "api", "order placed", order_id=7), line("02.000", "api", "other"))
    assert main(["logs", "--dir", str(tmp_path), "--order", "7"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "2026-11-22T10:00:01.000Z info    api            order placed  order_id=7"]
