"""``medvit demo``: steps chosen by name, training that shows its epochs, and outputs the viewer
reuses (issue 16, item 3). The steps themselves run in each method's slow demo-step test."""

import pytest

from medvit import demo
from medvit.bundle.registry import bundles_root
from medvit.bundle.run import run_config
from medvit.thorax.phantoms import write_cxr_phantoms
from medvit.viewer import samples
from tests.conftest import run_cli


def test_step_names_one_step_and_only_is_its_alias():
    for flag in ("--step", "--only"):
        result = run_cli("demo", flag, "nonsense")
        assert result.returncode == 1 and "unknown demo step" in result.stderr and "brats-swin-unetr" in result.stderr


def test_training_from_python_prints_each_epochs_loss_and_validation(tmp_path, capsys):
    """run_config quietens MONAI's log; a training run still says how it goes, one line per epoch."""
    write_cxr_phantoms(tmp_path / "data", count=12, prevalence=0.5)
    run_config(bundles_root() / "mae_thorax_classification", "train.json", dataset_dir=str(tmp_path / "data"),
               bundle_root=str(tmp_path / "bundle"), max_epochs=2, warmup_epochs=1, val_interval=2, batch_size=6,
               val_fraction=0.3, num_workers=0, cache_rate=1.0, **{"network_args#name": "vit_toy_patch16"})
    lines = [line.strip() for line in capsys.readouterr().out.splitlines() if line.strip().startswith("epoch ")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert "loss " in lines[0] and "val_mean_auc" not in lines[0]  # validated after epoch 2 only
    assert "loss " in lines[1] and "val_mean_auc " in lines[1]


def _fake_step(folder):
    """A step that makes a results folder."""
    (folder / "results").mkdir(parents=True)
    return ["trained a toy network for the test", "wrote results"]


def test_the_viewer_uses_demo_out_and_makes_only_what_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(demo.STEPS, "brats-swin-unetr", _fake_step)
    monkeypatch.setenv("MEDVIT_DEMO_OUT", str(tmp_path / "demo_out"))
    monkeypatch.setenv("MEDVIT_VIEWER_CACHE", str(tmp_path / "cache"))
    demo.run_demo(tmp_path / "demo_out", only=["brats-swin-unetr"])
    printed = capsys.readouterr().out
    assert "trained a toy network for the test" in printed and "(brats-swin-unetr: " in printed

    def must_not_run(folder):
        raise AssertionError("the demo's output is there: nothing to make")

    assert samples.sample_output("volume", step_fn=must_not_run) == tmp_path / "demo_out" / "brats-swin-unetr" / "results"
    assert samples.sample_origin("volume") == ("made by `make demo` (its `brats-swin-unetr` step's output in "
                                               "demo_out/brats-swin-unetr, reused as it is)")
    assert samples.sample_notes("volume").startswith("trained a toy network for the test")
    # the fundus step is missing from demo_out: made (once) in the viewer's cache
    made = []

    def make_fundus(folder):
        folder.mkdir(parents=True)
        made.append(folder)
        return ["made here"]

    fundus = samples.sample_output("fundus", step_fn=make_fundus)
    assert made == [tmp_path / "cache" / "pvbm-biomarkers"] and fundus == made[0] / ""
    assert samples.sample_origin("fundus").startswith("made on first use by the `pvbm-biomarkers` step")


def test_a_step_cut_short_in_demo_out_is_not_taken_as_done(tmp_path, monkeypatch):
    def broken(folder):
        """A step that fails half way."""
        (folder / "results").mkdir(parents=True, exist_ok=True)
        raise RuntimeError("cut short")

    monkeypatch.setitem(demo.STEPS, "brats-swin-unetr", _fake_step)
    monkeypatch.setenv("MEDVIT_DEMO_OUT", str(tmp_path / "demo_out"))
    monkeypatch.setenv("MEDVIT_VIEWER_CACHE", str(tmp_path / "cache"))
    demo.run_demo(tmp_path / "demo_out", only=["brats-swin-unetr"])
    monkeypatch.setitem(demo.STEPS, "brats-swin-unetr", broken)
    with pytest.raises(RuntimeError):
        demo.run_demo(tmp_path / "demo_out", only=["brats-swin-unetr"])
    assert samples.sample_output("volume", make=False) is None


def test_quick_steps_say_what_they_made(tmp_path, capsys):
    demo.run_demo(tmp_path, only=["read-samples", "synthetic-brats"])
    printed = capsys.readouterr().out
    assert "== [1/2] read-samples" in printed and "== [2/2] synthetic-brats" in printed
    assert f"wrote {tmp_path / 'read-samples' / 'samples.json'}" in printed and "(synthetic-brats: " in printed
    assert (tmp_path / "synthetic-brats" / demo.COMPLETE).read_text().startswith("case synthetic_000 at 2 mm")


@pytest.mark.slow
def test_thorax_demo_step_trains_then_classifies(tmp_path):
    import pandas as pd

    result = run_cli("demo", "--step", "mae-thorax", "--out", str(tmp_path), timeout=1200)
    assert result.returncode == 0, result.stderr
    assert "epoch 1/" in result.stdout and "val_mean_auc" in result.stdout  # training shows how it goes
    assert "cr_monochrome1.dcm: " in result.stdout and "(mae-thorax: " in result.stdout
    # the toy learned something: held-out AUC above chance (0.5, its trivial baseline) on average
    # and clearly so for the easiest finding (an enlarged heart)
    metrics = pd.read_csv(tmp_path / "mae-thorax" / "evaluation" / "metrics.csv").set_index("label")
    assert metrics["auc"].iloc[-1] > 0.5 and metrics.loc["Cardiomegaly", "auc"] > 0.75, metrics
