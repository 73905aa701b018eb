"""medvit.batch: the cohort runner, on real photographs from scikit-image's sample data."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import skimage

from medvit.batch import case_ids, cohort_files, input_hash, run_cohort, settings_hash
from medvit.batch.store import Journal
from medvit.errors import MedvitError
from medvit.batch import store
from tests.batch_cases import bad_result, image_stats, stats_or_exit, stats_or_refuse, thread_settings

ROOT = Path(__file__).resolve().parents[1]
SKIMAGE_DATA = Path(skimage.__file__).parent / "data"
PHOTOS = ("astronaut.png", "camera.png", "coins.png", "moon.png", "retina.jpg")
NAMES = sorted([*PHOTOS, "bad.png"])
COLUMNS = ["image", "status", "error", "width", "height", "mean", "above", "colour", "settings_hash", "input_hash"]


@pytest.fixture
def cohort(tmp_path: Path) -> list[Path]:
    """Five real photos and a text file named like a PNG, in a writable folder."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in PHOTOS:
        shutil.copy(SKIMAGE_DATA / name, folder / name)
    (folder / "bad.png").write_text("this is not an image\n")
    # Not in sorted order: the table must not depend on the order given.
    return [folder / name for name in reversed(NAMES)]


def calls(log: Path) -> Counter:
    return Counter(log.read_text().split()) if log.exists() else Counter()


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_one_row_per_input_with_status_and_error(cohort, tmp_path):
    out = tmp_path / "out" / "cohort.csv"
    table = run_cohort(cohort, image_stats, out, {"threshold": 100}, progress=False)

    assert list(table.columns) == COLUMNS
    assert list(table["image"]) == NAMES  # sorted by id
    by_id = table.set_index("image")
    assert by_id.loc["bad.png", "status"] == "error"
    # A MedvitError's message as is, on one line.
    assert by_id.loc["bad.png", "error"] == f"{cohort[0].parent / 'bad.png'}: not an image file (Pillow cannot identify its format)"
    ok = by_id.drop("bad.png")
    assert (ok["status"] == "ok").all() and (ok["error"] == "").all()
    assert by_id.loc["coins.png", ["width", "height"]].tolist() == [384, 303]
    assert by_id.loc["retina.jpg", "colour"] == True  # noqa: E712 - a bool column with an empty cell
    assert 0 < by_id.loc["camera.png", "above"] < 1
    assert table["settings_hash"].nunique() == 1

    # The file: integers stay integers; the error row's result cells are empty.
    rows = {r["image"]: r for r in read_rows(out)}
    assert list(rows["coins.png"]) == COLUMNS
    assert rows["coins.png"]["width"] == "384" and rows["bad.png"]["width"] == ""
    # A finished run leaves no journal.
    assert not cohort_files(out).journal.exists()


def test_given_columns_set_order_and_selection(cohort, tmp_path):
    out = tmp_path / "cohort.csv"
    table = run_cohort(cohort, image_stats, out, columns=["mean", "width", "not_returned"], progress=False)
    assert list(table.columns) == ["image", "status", "error", "mean", "width", "not_returned", "settings_hash", "input_hash"]
    assert table["not_returned"].isna().all()


def test_resume_skips_done_cases_and_retries_errors(cohort, tmp_path):
    out, log = tmp_path / "cohort.csv", tmp_path / "calls.log"
    settings = {"threshold": 100, "calls": str(log)}
    run_cohort(cohort, image_stats, out, settings, progress=False)
    first = out.read_bytes()
    assert calls(log) == Counter(NAMES)

    # Re-run: only the error row is redone.
    run_cohort(cohort, image_stats, out, settings, progress=False)
    assert calls(log) == Counter(NAMES) + Counter(["bad.png"])
    assert out.read_bytes() == first

    # Fix the bad file: its row is redone and now ok.
    shutil.copy(SKIMAGE_DATA / "page.png", cohort[0].parent / "bad.png")
    table = run_cohort(cohort, image_stats, out, settings, progress=False)
    assert (table["status"] == "ok").all() and calls(log)["bad.png"] == 3
    assert calls(log)["camera.png"] == 1

    provenance = json.loads(cohort_files(out).provenance.read_text())
    assert provenance["counts"] == {"inputs": 6, "ok": 6, "error": 0, "skipped": 5, "computed": 1, "pending": 0}


def test_changed_settings_or_input_are_recomputed(cohort, tmp_path):
    out, log = tmp_path / "cohort.csv", tmp_path / "calls.log"
    before = run_cohort(cohort, image_stats, out, {"threshold": 100, "calls": str(log)}, progress=False)

    after = run_cohort(cohort, image_stats, out, {"threshold": 200, "calls": str(log)}, progress=False)
    assert calls(log) == Counter(NAMES * 2)
    assert after["settings_hash"].nunique() == 1 and after["settings_hash"][0] != before["settings_hash"][0]
    assert (after["above"] < before["above"]).sum() == 5

    # Overwrite one input with other pixels: only it is redone.
    shutil.copy(SKIMAGE_DATA / "coins.png", cohort[0].parent / "camera.png")
    again = run_cohort(cohort, image_stats, out, {"threshold": 200, "calls": str(log)}, progress=False).set_index("image")
    assert calls(log) - Counter(NAMES * 2) == Counter(["camera.png", "bad.png"])
    assert again.loc["camera.png", "mean"] == again.loc["coins.png", "mean"]
    assert again.loc["camera.png", "input_hash"] == again.loc["coins.png", "input_hash"]

    # resume=False starts over.
    run_cohort(cohort, image_stats, out, {"threshold": 200, "calls": str(log)}, resume=False, progress=False)
    assert calls(log) == Counter(NAMES * 4) - Counter(PHOTOS) + Counter(["camera.png"])


KILLED_RUN = """
import sys
import medvit.batch.runner
from medvit.batch import run_cohort
from tests.batch_cases import stats_or_exit
medvit.batch.runner.CHECKPOINT_SECONDS = 0  # rewrite the table after every case
out, flag, log, *inputs = sys.argv[1:]
run_cohort(inputs, stats_or_exit, out, {"crash_flag": flag, "crash_on": "coins.png", "calls": log}, progress=False)
"""


def test_killed_run_loses_nothing_done_and_duplicates_nothing(cohort, tmp_path):
    out, log, flag = tmp_path / "cohort.csv", tmp_path / "calls.log", tmp_path / "crash.flag"
    flag.touch()
    files = cohort_files(out)
    # In-process run in a child that dies (os._exit) on coins.png, the fourth case by id.
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(out), str(flag), str(log), *map(str, cohort)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 3, proc.stderr
    journal_lines = files.journal.read_text().splitlines()
    assert [json.loads(line)["image"] for line in journal_lines] == ["astronaut.png", "bad.png", "camera.png"]
    # The table as last rewritten: valid, with the cases done so far.
    assert [(r["image"], r["status"]) for r in read_rows(out)] == [("astronaut.png", "ok"), ("bad.png", "error"), ("camera.png", "ok")]

    # Killed again, this time while appending a record: a cut last line.
    with open(files.journal, "ab") as fh:
        fh.write(b'{"image":"moon.png","status":"ok","err')
    journal = Journal(files.journal)
    assert [r["image"] for r in journal.records] == ["astronaut.png", "bad.png", "camera.png"]
    assert files.journal.read_bytes().endswith(b"}\n")  # cut off, so appends start clean
    journal.close()

    # A kill while rewriting the table leaves its temporary file: the next run removes it.
    stale = tmp_path / ".cohort.csv.12345.0badf00d.tmp.csv"
    stale.write_text("image,sta")

    flag.unlink()
    table = run_cohort(cohort, stats_or_exit, out, {"crash_flag": str(flag), "crash_on": "coins.png", "calls": str(log)}, progress=False)
    assert list(table["image"]) == NAMES
    assert list(table["status"]) == ["ok", "error", "ok", "ok", "ok", "ok"]
    # Cases done before the kill were not redone; the error row was retried.
    assert calls(log) == Counter(NAMES) + Counter(["bad.png"])
    assert not files.journal.exists() and not stale.exists()


def test_journal_records_newer_than_the_table_win(cohort, tmp_path):
    out = tmp_path / "cohort.csv"
    photos = [p for p in cohort if p.name != "bad.png"]
    run_cohort(photos, image_stats, out, progress=False)
    rows = read_rows(out)
    # As if killed after rewriting the table but before deleting the journal, then a later
    # record for camera.png: the journal is newer, and one row per case remains.
    camera = next(r for r in rows if r["image"] == "camera.png")
    record = {k: camera[k] for k in ("image", "status", "error", "settings_hash", "input_hash")}
    cohort_files(out).journal.write_text(
        json.dumps({**record, "result": {"width": 1, "height": 2}}) + "\n" + json.dumps({**record, "result": {"width": 3}}) + "\n"
    )
    table = run_cohort(photos, image_stats, out, progress=False)
    assert list(table["image"]) == sorted(PHOTOS)
    assert table.set_index("image").loc["camera.png", "width"] == 3


def test_anonymised_ids_and_separate_mapping(cohort, tmp_path):
    out, log = tmp_path / "cohort.csv", tmp_path / "calls.log"
    table = run_cohort(cohort, image_stats, out, {"calls": str(log)}, anonymise="pepper", progress=False)
    expected = {hashlib.sha256(f"pepper{name}".encode()).hexdigest()[:16]: name for name in NAMES}
    assert list(table["image"]) == sorted(expected)
    mapping = {r["image"]: r["name"] for r in read_rows(cohort_files(out).ids)}
    assert mapping == expected
    # No name or path in the table, not even in error messages.
    text = out.read_text()
    assert not any(name in text for name in NAMES) and str(tmp_path) not in text
    bad = table.set_index("image").loc[next(k for k, v in expected.items() if v == "bad.png")]
    assert bad["error"].endswith(": not an image file (Pillow cannot identify its format)")

    # Random ids (anonymise=True) stay the same on a re-run, through the mapping file.
    out2 = tmp_path / "random.csv"
    first = run_cohort(cohort, image_stats, out2, {"calls": str(log)}, anonymise=True, progress=False)
    assert set(first["image"]).isdisjoint(expected) and first["image"].str.fullmatch("[0-9a-f]{16}").all()
    second = run_cohort(cohort, image_stats, out2, {"calls": str(log)}, anonymise=True, progress=False)
    assert list(second["image"]) == list(first["image"])
    assert calls(log) == Counter(NAMES * 2) + Counter(["bad.png"])  # the re-run skipped the photos


def test_provenance_sidecar(cohort, tmp_path):
    out = tmp_path / "cohort.csv"
    table = run_cohort(cohort, image_stats, out, {"threshold": 90}, provenance={"bundle": "demo", "version": "1"}, progress=False)
    import medvit
    import numpy

    side = json.loads(cohort_files(out).provenance.read_text())
    assert side["medvit_version"] == medvit.__version__ and side["numpy"] == numpy.__version__
    assert side["python"] == ".".join(map(str, sys.version_info[:3]))
    assert side["settings"] == {"threshold": 90} and side["provenance"] == {"bundle": "demo", "version": "1"}
    assert side["case_fn"] == "tests.batch_cases:image_stats"
    assert side["settings_hash"] == table["settings_hash"][0]
    assert side["complete"] is True and side["started"] <= side["finished"]
    assert side["counts"] == {"inputs": 6, "ok": 5, "error": 1, "skipped": 0, "computed": 6, "pending": 0}
    # Provenance is part of the fingerprint: another bundle version is another method.
    other = run_cohort(cohort, image_stats, out, {"threshold": 90}, provenance={"bundle": "demo", "version": "2"}, progress=False)
    assert other["settings_hash"][0] != side["settings_hash"]


def test_process_pool_gives_the_same_table(cohort, tmp_path):
    run_cohort(cohort, image_stats, tmp_path / "one.csv", {"threshold": 100}, progress=False)
    run_cohort(cohort, image_stats, tmp_path / "two.csv", {"threshold": 100}, workers=2, progress=False)
    assert (tmp_path / "two.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()

    # Workers run with one compute thread; the parent's environment is left as it was.
    before = os.environ.get("OMP_NUM_THREADS")
    threads = run_cohort(cohort[:2], thread_settings, tmp_path / "threads.csv", workers=2, progress=False)
    assert (threads["omp"] == 1).all() and (threads["openblas"] == 1).all()
    assert os.environ.get("OMP_NUM_THREADS") == before


def test_worker_crash_is_an_error_row(cohort, tmp_path):
    out, flag = tmp_path / "cohort.csv", tmp_path / "crash.flag"
    flag.touch()
    table = run_cohort(cohort, stats_or_exit, out, {"crash_flag": str(flag), "crash_on": "coins.png"}, workers=2, progress=False)
    by_id = table.set_index("image")
    assert list(table["image"]) == NAMES
    assert by_id.loc["coins.png", "status"] == "error"
    assert by_id.loc["coins.png", "error"].startswith("BrokenProcessPool: the worker process died")
    assert (by_id.drop(["coins.png", "bad.png"])["status"] == "ok").all()


def test_dask_cluster_gives_the_same_table(cohort, tmp_path):
    from distributed import LocalCluster

    run_cohort(cohort, image_stats, tmp_path / "local.csv", {"threshold": 100}, progress=False)
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster:
        run_cohort(cohort, image_stats, tmp_path / "dask.csv", {"threshold": 100}, scheduler=cluster.scheduler_address, progress=False)
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    side = json.loads(cohort_files(tmp_path / "dask.csv").provenance.read_text())
    assert side["executor"].startswith("dask tcp://127.0.0.1:")


def test_bad_results_are_error_rows(cohort, tmp_path):
    expected = {
        "array": "case function returned ndarray for column 'pixels'; expected a number, string, bool or None",
        "reserved": "case function returned reserved column 'status' (the runner writes it)",
        "list": "case function returned list, expected a dict of column -> scalar",
    }
    for kind, message in expected.items():
        table = run_cohort(cohort[:1], bad_result, tmp_path / f"{kind}.csv", {"kind": kind}, progress=False)
        assert table["status"][0] == "error" and table["error"][0] == message


def test_error_rows_keep_what_was_measured_before_the_failure(cohort, tmp_path):
    """A case refused after measuring (e.g. a photo's quality grade refusing it) keeps those
    columns in its error row, and a resumed run reads them back (issue 18)."""
    out = tmp_path / "cohort.csv"
    table = run_cohort(cohort, stats_or_refuse, out, {"darker_than": 100}, progress=False)
    by_id = table.set_index("image")
    refused = by_id.loc[["coins.png", "retina.jpg"]]
    assert (refused["status"] == "error").all() and (refused["grade"] == "reject").all()
    assert refused["error"].tolist() == [f"{cohort[0].parent / name}: too dark to measure (mean {mean:.1f})"
                                         for name, mean in (("coins.png", 96.86), ("retina.jpg", 89.70))]
    assert refused["mean"].tolist() == pytest.approx([96.855516, 89.697989])
    assert refused["width"].isna().all()  # not measured before the refusal: empty, not made up
    assert by_id.loc["bad.png", "error"] and by_id[["mean", "grade"]].loc["bad.png"].isna().all()
    assert (by_id.loc[["astronaut.png", "camera.png", "moon.png"], "grade"] == "good").all()
    assert store.read_table(out)["coins.png"]["result"]["grade"] == "reject"

    # A cohort where every case is refused still has the measured columns.
    table = run_cohort(cohort[1:3], stats_or_refuse, tmp_path / "all.csv", {"darker_than": 1000}, progress=False)
    assert list(table.columns) == ["image", "status", "error", "mean", "grade", "settings_hash", "input_hash"]
    assert (table["status"] == "error").all() and (table["grade"] == "reject").all()


def test_refuses_what_it_cannot_run(cohort, tmp_path):
    out = tmp_path / "cohort.csv"
    with pytest.raises(MedvitError, match="no inputs"):
        run_cohort([], image_stats, out)
    with pytest.raises(MedvitError, match="JSON-serialisable"):
        run_cohort(cohort, image_stats, out, {"threshold": object()})
    with pytest.raises(MedvitError, match="must pickle"):
        run_cohort(cohort, lambda path: {}, out, workers=2)
    with pytest.raises(MedvitError, match="reserved|runner's own"):
        run_cohort(cohort, image_stats, out, columns=["status"])

    # Another run holds this cohort.
    held = Journal(cohort_files(out).journal)
    try:
        with pytest.raises(MedvitError, match="another run"):
            run_cohort(cohort, image_stats, out, progress=False)
    finally:
        held.close(remove=True)

    # A CSV this runner did not write is not overwritten unless asked to.
    out.write_text("a,b\n1,2\n")
    with pytest.raises(MedvitError, match="not a medvit cohort table"):
        run_cohort(cohort, image_stats, out, progress=False)
    assert out.read_text() == "a,b\n1,2\n"
    assert len(run_cohort(cohort, image_stats, out, resume=False, progress=False)) == 6


def test_fingerprints(tmp_path):
    # A file: its bytes. A folder: its file names, sizes and modification times.
    (tmp_path / "series").mkdir()
    (tmp_path / "series" / "1.dcm").write_bytes(b"abc")
    (tmp_path / "copy.png").write_bytes(b"abc")
    folder, file = input_hash(tmp_path / "series"), input_hash(tmp_path / "series" / "1.dcm")
    assert file == input_hash(tmp_path / "copy.png") == hashlib.sha256(b"abc").hexdigest()[:16]
    os.utime(tmp_path / "series" / "1.dcm", ns=(0, 0))
    assert input_hash(tmp_path / "series") != folder and input_hash(tmp_path / "series" / "1.dcm") == file
    assert input_hash(tmp_path / "missing.png") == ""

    # Equal settings in any key order give one hash; a partial's bound arguments count.
    import functools

    assert settings_hash({"a": 1, "b": Path("x")}, image_stats) == settings_hash({"b": "x", "a": 1}, image_stats)
    assert settings_hash({}, image_stats) != settings_hash({}, stats_or_exit)
    bound = [settings_hash({}, functools.partial(image_stats, threshold=t)) for t in (1, 1, 2)]
    assert bound[0] == bound[1] != bound[2]


def test_case_ids(tmp_path):
    paths = [tmp_path / "a" / "x.png", tmp_path / "b" / "x.png", tmp_path / "b" / "scan.nii.gz"]
    assert case_ids(paths, "relative") == ["a/x.png", "b/x.png", "b/scan.nii.gz"]
    assert case_ids(paths, "relative", root=tmp_path.parent)[0] == f"{tmp_path.name}/a/x.png"
    assert case_ids(paths[1:], "stem") == ["x", "scan"]
    assert case_ids(paths, lambda p: p.parent.name + "-" + p.name) == ["a-x.png", "b-x.png", "b-scan.nii.gz"]
    with pytest.raises(MedvitError, match="more than once: x.png"):
        case_ids(paths, "name")
    with pytest.raises(MedvitError, match="not inside"):
        case_ids(paths, "relative", root=tmp_path / "a")


def _session_processes(sid: int) -> list[int]:
    """PIDs of the live processes in session ``sid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # fields: state ppid pgrp session ...
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc (Linux)")
@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM"])
def test_a_killed_two_worker_run_leaves_no_process_and_resumes_to_the_same_table(tmp_path, sig):
    """kill -9 / SIGTERM on a 2-worker cohort run: no worker (or resource tracker) outlives it,
    SIGTERM writes the provenance and exits 143, and the resumed table equals an uninterrupted one
    (issue 17, item 5)."""
    import signal
    import subprocess
    import sys
    import time

    folder = tmp_path / "inputs"
    folder.mkdir()
    for k in range(10):
        (folder / f"case_{k:02d}.bin").write_bytes(bytes([k]) * (100 + k))
    command = [sys.executable, "-m", "tests.batch_cases", str(folder), str(tmp_path / "run.csv"), "2"]
    root = Path(__file__).resolve().parents[1]
    process = subprocess.Popen(command, cwd=root, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    journal = tmp_path / "run.journal.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not journal.exists() or len(journal.read_text().splitlines()) < 2):
        time.sleep(0.05)
    assert journal.exists(), process.communicate()[1].decode()[-2000:]
    process.send_signal(getattr(signal, sig))
    code = process.wait(timeout=60)
    deadline = time.monotonic() + 15
    while _session_processes(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _session_processes(process.pid) == []
    if sig == "SIGTERM":
        assert code == 128 + signal.SIGTERM
        provenance = json.loads((tmp_path / "run.provenance.json").read_text())
        assert provenance["complete"] is False and 2 <= provenance["counts"]["computed"] < 10
    else:
        assert code == -signal.SIGKILL
    assert subprocess.run(command, cwd=root, capture_output=True, timeout=300).returncode == 0
    clean = [sys.executable, "-m", "tests.batch_cases", str(folder), str(tmp_path / "clean.csv"), "2"]
    assert subprocess.run(clean, cwd=root, capture_output=True, timeout=300).returncode == 0
    import pandas as pd

    resumed, uninterrupted = pd.read_csv(tmp_path / "run.csv"), pd.read_csv(tmp_path / "clean.csv")
    assert (resumed["status"] == "ok").all() and len(resumed) == 10
    pd.testing.assert_frame_equal(resumed, uninterrupted)


def test_progress_is_logged_when_not_on_a_terminal_and_a_rerun_says_what_it_skipped(cohort, tmp_path, capsys):
    """stderr is not a terminal here (a batch log): a line every few cases and at the end; a
    re-run says how many cases it skipped as done (issue 16, item 2)."""
    out = tmp_path / "cohort.csv"
    run_cohort(cohort, image_stats, out, {"threshold": 100})
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("medvit:")]
    assert lines[-1].startswith("medvit: 6/6 case(s) done, 1 failed, ") and len(lines) == 6  # every case of 6
    assert "about" in lines[0] and "left" in lines[0] and "left" not in lines[-1]
    run_cohort(cohort, image_stats, out, {"threshold": 100})
    err = capsys.readouterr().err
    assert "5 of 6 case(s) already done with the same settings and inputs: skipped" in err
    assert "medvit: 1/1 case(s) done, 1 failed" in err  # the failed one is retried
    run_cohort(cohort, image_stats, out, {"threshold": 100}, progress=False)
    assert capsys.readouterr().err == ""


def test_progress_lines_come_every_tenth_of_the_run():
    import io

    from medvit.batch.progress import ProgressLog

    stream = io.StringIO()
    log = ProgressLog(95, stream=stream)
    for k in range(95):
        log.update(failed=k < 3)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10 and lines[0].startswith("medvit: 10/95 case(s) done, 3 failed")
    assert lines[-1].startswith("medvit: 95/95 case(s) done")
