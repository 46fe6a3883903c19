"""``python -m detection.replay`` as a subprocess: detection on known streams, counts, errors."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from detection.core.events import encode_event, iso_to_ms, ms_to_iso

REPO = Path(__file__).resolve().parents[3]
NAB = Path(__file__).resolve().parents[4] / "shared" / "nab"  # ../shared/nab beside the repo
T0 = 1_704_067_200_000
THRESHOLD_FLAGS = [
    "--window-seconds", "60", "--min-samples", "30", "--z-threshold", "2", "--std-ratio-threshold", "2",
    "--enter-hits", "5", "--exit-hits", "5", "--allowed-lateness-seconds", "5",
]


def replay(*args: str) -> tuple[int, list[dict], dict | None, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    proc = subprocess.run(
        [sys.executable, "-m", "detection.replay", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    transitions = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    summary = None
    if proc.returncode == 0:
        summary = json.loads(proc.stderr.strip().splitlines()[-1])
    return proc.returncode, transitions, summary, proc.stderr


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["source_id", "metric", "value", "event_time"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def shifted_stream(seed: int = 1) -> tuple[list[dict], int, int]:
    """Key "shifted": 1,200 s at N(100, 5), 600 s at +3 sigma, 1,200 s back. Key "stable":
    N(100, 5) throughout. One event per key per second, interleaved."""
    rng = np.random.default_rng(seed)
    n_before, n_shift, n_after = 1_200, 600, 1_200
    shifted = np.concatenate([
        rng.normal(100, 5, n_before), rng.normal(115, 5, n_shift), rng.normal(100, 5, n_after)
    ])
    stable = rng.normal(100, 5, len(shifted))
    rows = []
    for i, (a, b) in enumerate(zip(shifted, stable)):
        t = ms_to_iso(T0 + 1_000 * i)
        rows.append({"source_id": "shifted", "metric": "cpu", "value": repr(float(a)), "event_time": t})
        rows.append({"source_id": "stable", "metric": "cpu", "value": repr(float(b)), "event_time": t})
    return rows, T0 + 1_000 * n_before, T0 + 1_000 * (n_before + n_shift)


def test_three_sigma_shift_gives_one_start_and_one_end_and_the_control_key_none(tmp_path):
    rows, shift_start, shift_end = shifted_stream()
    path = write_csv(tmp_path / "stream.csv", rows)
    code, transitions, summary, _ = replay(
        "--input", str(path), *THRESHOLD_FLAGS, "--baseline-mean", "100", "--baseline-std", "5"
    )
    assert code == 0
    assert [(t["source_id"], t["event_type"]) for t in transitions] == [("shifted", "DRIFT_START"), ("shifted", "DRIFT_END")]
    start, end = (iso_to_ms(t["event_time"]) for t in transitions)
    window_ms = 60_000
    assert shift_start < start <= shift_start + window_ms  # within one window of shifted events
    assert shift_end < end <= shift_end + window_ms
    assert transitions[0]["z_score"] > 2 and transitions[1]["z_score"] <= 2
    assert transitions[0]["baseline_mean"] == 100 and transitions[0]["baseline_std"] == 5
    assert set(transitions[0]) >= {
        "drift_event_id", "source_id", "metric", "event_type", "event_time", "rolling_mean", "rolling_std",
        "rolling_count", "baseline_mean", "baseline_std", "z_score", "std_ratio",
    }
    assert summary["read"] == summary["accepted"] == len(rows)
    assert (summary["invalid"], summary["late"], summary["duplicate"], summary["transitions"]) == (0, 0, 0, 2)
    assert summary["keys"] == 2 and summary["events_per_s"] > 0


CUSUM_FLAGS = [
    "--method", "cusum", "--window-seconds", "60", "--min-samples", "30", "--enter-hits", "1", "--exit-hits", "5",
    "--target-false-alarms-per-100k", "0.5",
]


def test_cusum_detects_the_shift_within_seconds_and_reports_its_statistics(tmp_path):
    rows, shift_start, shift_end = shifted_stream()
    path = write_csv(tmp_path / "stream.csv", rows)
    code, transitions, summary, _ = replay(
        "--input", str(path), *CUSUM_FLAGS, "--baseline-mean", "100", "--baseline-std", "5",
        "--baseline-autocorrelation", "0.0",
    )
    assert code == 0
    assert [(t["source_id"], t["event_type"]) for t in transitions] == [("shifted", "DRIFT_START"), ("shifted", "DRIFT_END")]
    start, end = (iso_to_ms(t["event_time"]) for t in transitions)
    assert shift_start <= start <= shift_start + 10_000  # a +3 sigma shift: a few samples
    assert shift_end < end <= shift_end + 60_000
    first = transitions[0]
    assert first["method"] == "cusum" and first["statistic"] > first["threshold"]
    assert first["statistic_name"] in ("mean_up", "std_up") and len(first["cusum_statistics"]) == 4
    assert summary["transitions"] == 2


def test_cusum_with_baseline_fraction_is_quiet_on_a_stable_stream(tmp_path):
    rng = np.random.default_rng(4)
    rows = [
        {"source_id": "s", "metric": "m", "value": repr(float(x)), "event_time": ms_to_iso(T0 + 1_000 * i)}
        for i, x in enumerate(rng.normal(100, 5, 6_000))
    ]
    code, transitions, summary, _ = replay(
        "--input", str(write_csv(tmp_path / "stable.csv", rows)), *CUSUM_FLAGS, "--baseline-fraction", "0.2",
    )
    assert code == 0 and transitions == [] and summary["baseline_events"] == 1_200


def test_stable_stream_gives_no_transition(tmp_path):
    rng = np.random.default_rng(2)
    rows = [
        {"source_id": "s", "metric": "m", "value": repr(float(x)), "event_time": ms_to_iso(T0 + 1_000 * i)}
        for i, x in enumerate(rng.normal(100, 5, 5_000))
    ]
    code, transitions, summary, _ = replay(
        "--input", str(write_csv(tmp_path / "stable.csv", rows)), *THRESHOLD_FLAGS,
        "--baseline-mean", "100", "--baseline-std", "5",
    )
    assert code == 0 and transitions == [] and summary["accepted"] == 5_000


def test_two_replays_of_the_same_input_write_the_same_transitions(tmp_path):
    rows, _, _ = shifted_stream(seed=3)
    path = write_csv(tmp_path / "stream.csv", rows)
    args = ("--input", str(path), *THRESHOLD_FLAGS, "--baseline-mean", "100", "--baseline-std", "5")
    first, second = replay(*args), replay(*args)
    assert first[1] and first[1] == second[1]


def test_invalid_rows_are_counted_by_reason_not_fatal(tmp_path):
    rows = [
        {"source_id": "s", "metric": "m", "value": "1.5", "event_time": "2024-01-01T00:00:00Z"},
        {"source_id": "s", "metric": "m", "value": "NaN", "event_time": "2024-01-01T00:00:01Z"},
        {"source_id": "s", "metric": "m", "value": "inf", "event_time": "2024-01-01T00:00:02Z"},
        {"source_id": "s", "metric": "m", "value": "abc", "event_time": "2024-01-01T00:00:03Z"},
        {"source_id": "s", "metric": "m", "value": "", "event_time": "2024-01-01T00:00:04Z"},
        {"source_id": "s", "metric": "m", "value": "2.5", "event_time": "2024-01-01 00:00:05"},
        {"source_id": "s", "metric": "m", "value": "2.5", "event_time": "soon"},
        {"source_id": "", "metric": "m", "value": "2.5", "event_time": "2024-01-01T00:00:06Z"},
        {"source_id": "s", "metric": "m", "value": "2.5", "event_time": "2024-01-01T00:00:07+01:00"},
    ]
    code, _, summary, _ = replay(
        "--input", str(write_csv(tmp_path / "bad.csv", rows)), "--baseline-mean", "0", "--baseline-std", "1"
    )
    assert code == 0
    assert summary["read"] == 9 and summary["accepted"] == 1 and summary["invalid"] == 7
    assert summary["invalid_reasons"] == {
        "bad_event_time": 1, "empty_source_id": 1, "missing_field:value": 1, "naive_event_time": 1,
        "not_a_number": 1, "not_finite": 2,
    }
    assert summary["late"] == 1  # 2024-01-01T00:00:07+01:00 is an hour before the newest event


def test_json_lines_input_with_duplicates_late_and_garbage(tmp_path):
    lines = [encode_event("s", "m", float(i), T0 + 1_000 * i) for i in range(10)]
    lines += [
        lines[9],  # a re-sent copy
        encode_event("s", "m", 0.5, T0 + 1_000),  # 8 s behind the newest: late with 5 s lateness
        b'{"source_id":"s","metric":"m","value":NaN,"event_time":"2024-01-01T00:00:20Z"}',
        b"not json at all",
        b"",
        b'{"metric":"m","value":1.0,"event_time":"2024-01-01T00:00:20Z"}',  # gets --source-id
    ]
    path = tmp_path / "events.data"  # no telling extension: sniffed as JSON lines
    path.write_bytes(b"\n".join(lines) + b"\n")
    code, _, summary, _ = replay(
        "--input", str(path), "--allowed-lateness-seconds", "5", "--source-id", "fallback",
        "--baseline-mean", "0", "--baseline-std", "1",
    )
    assert code == 0
    assert (summary["read"], summary["accepted"], summary["duplicate"], summary["late"]) == (15, 11, 1, 1)
    assert summary["invalid_reasons"] == {"not_finite": 1, "not_json": 1}
    assert summary["keys"] == 2


def test_baseline_fraction_builds_per_key_baselines_from_the_first_share(tmp_path):
    rows, shift_start, _ = shifted_stream(seed=4)
    code, transitions, summary, _ = replay(
        "--input", str(write_csv(tmp_path / "s.csv", rows)), *THRESHOLD_FLAGS, "--baseline-fraction", "0.3"
    )
    assert code == 0
    assert summary["baseline_events"] == int(0.3 * 3_000) * 2
    assert summary["accepted"] == len(rows) - summary["baseline_events"]
    assert transitions[0]["source_id"] == "shifted" and transitions[0]["event_type"] == "DRIFT_START"
    assert transitions[0]["baseline_mean"] == pytest.approx(100, abs=1) and transitions[0]["baseline_std"] == pytest.approx(5, abs=0.5)
    assert iso_to_ms(transitions[0]["event_time"]) > shift_start


FIXED = ["--baseline-mean", "0", "--baseline-std", "1"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--window-seconds", "0", *FIXED], "window-seconds must be"),
        (["--min-samples", "1", *FIXED], "min-samples must be"),
        (["--std-ratio-threshold", "1", *FIXED], "std-ratio-threshold must be"),
        (["--enter-hits", "0", *FIXED], "enter-hits must be"),
        (["--allowed-lateness-seconds", "-1", *FIXED], "allowed-lateness-seconds must be"),
        (["--window-seconds", "abc", *FIXED], "--window-seconds: invalid"),
        (["--baseline-fraction", "1.5"], "strictly between 0 and 1"),
        (["--baseline-fraction", "0.5", *FIXED], "not both"),
        ([], "a baseline is required"),
        (["--baseline-std", "1"], "go together"),
        (["--format", "xml", *FIXED], "invalid choice"),
        (["--method", "ewma", *FIXED], "invalid choice"),
        (["--method", "cusum", "--std-down-ratio", "1", *FIXED], "std-down-ratio must be"),
        (["--method", "cusum", "--target-false-alarms-per-100k", "0", *FIXED], "target-false-alarms-per-100k must be"),
        (["--baseline-fraction", "0.5", "--baseline-autocorrelation", "0.2"], "--baseline-fraction computes it"),
        (["--baseline-autocorrelation", "1.5", *FIXED], "must be in [-1, 1]"),
    ],
)
def test_bad_flags_fail_with_a_clear_argparse_error(tmp_path, args, message):
    path = write_csv(tmp_path / "x.csv", [])
    code, _, _, stderr = replay("--input", str(path), *args)
    assert code == 2
    assert message in stderr and "usage:" in stderr


def test_missing_input_file_is_an_argparse_error(tmp_path):
    code, _, _, stderr = replay("--input", str(tmp_path / "nope.csv"), "--baseline-mean", "0", "--baseline-std", "1")
    assert code == 2 and "no such file" in stderr


def test_nab_series_replays_with_assume_utc_and_flags_the_labelled_window():
    """Real data: NAB realKnownCause/cpu_utilization_asg_misconfiguration (5-min samples, no
    offset in its timestamps). Naive timestamps are rejected unless --assume-utc is given."""
    assert NAB.is_dir(), f"the shared NAB data is missing: expected {NAB} (../shared/nab beside the repo)"
    series = NAB / "series" / "realKnownCause__cpu_utilization_asg_misconfiguration.csv"
    labels = json.loads((NAB / "labels.json").read_text())["realKnownCause/cpu_utilization_asg_misconfiguration"]
    code, transitions, summary, _ = replay("--input", str(series), "--baseline-fraction", "0.15")
    assert code == 0 and transitions == []
    assert summary["invalid_reasons"] == {"naive_event_time": labels["n"]}

    code, transitions, summary, _ = replay(
        "--input", str(series), "--assume-utc", "--baseline-fraction", "0.15",
        "--window-seconds", "21600", "--min-samples", "12", "--z-threshold", "3", "--std-ratio-threshold", "4",
        "--enter-hits", "6", "--exit-hits", "6",
    )
    assert code == 0
    assert summary["read"] == labels["n"] and summary["invalid"] == 0
    assert summary["baseline_events"] + summary["accepted"] + summary["late"] + summary["duplicate"] == labels["n"]
    assert transitions[0]["source_id"] == series.stem and transitions[0]["metric"] == "value"
    starts = [iso_to_ms(t["event_time"]) for t in transitions if t["event_type"] == "DRIFT_START"]
    windows = [(iso_to_ms(w["start"], assume_utc=True), iso_to_ms(w["end"], assume_utc=True)) for w in labels["windows"]]
    assert starts and all(any(a <= s <= b for a, b in windows) for s in starts)
