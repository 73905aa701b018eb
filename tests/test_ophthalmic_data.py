"""Uni4Eye's data: synthetic fundus / OCT items, B-scan folders read as volumes, the mixed
2D / 3D dataset description, loading (wrong depth, wrong kind), the interleaving sampler,
class probabilities per item and their evaluation."""

import json

import numpy as np
import pytest
import torch
from scipy import ndimage

from medvit.uni4eye.phantoms import fundus_like, oct_volume, write_ophthalmic_dataset
from medvit.errors import ImageReadError, MedvitError
from medvit.io import describe, read_image, save_png
from medvit.uni4eye.classify import evaluate_ophthalmic_cohort, run_ophthalmic_cohort
from medvit.uni4eye.evaluation import classification_metrics, cohen_kappa
from medvit.uni4eye.items import InterleavedBatchSampler, LoadOphthalmicd, load_item, read_items

TINY_NET = {"img_size_2d": 32, "img_size_3d": [32, 32, 16], "patch_size": 8, "hidden_size": 48, "num_layers": 2,
            "num_heads": 3}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("ophthalmic")
    return write_ophthalmic_dataset(root, n_fundus=2, n_bscans=2, n_volumes=3, size_2d=32, shape_3d=(32, 32, 16))


def test_oct_fluid_is_a_dark_pocket_under_lifted_layers():
    normal, label0 = oct_volume(3, (48, 48, 16), fluid=False)
    fluid, label1 = oct_volume(3, (48, 48, 16), fluid=True)
    assert (label0, label1) == (0, 1) and normal.shape == (48, 48, 16) and normal.dtype == np.float32
    # same seed: the eyes differ only where the pocket is (never at the lateral edges) ...
    assert np.array_equal(normal[:6], fluid[:6]) and not np.array_equal(normal, fluid)
    x, z = np.unravel_index(np.abs(fluid - normal).sum(axis=1).argmax(), (48, 16))
    # ... and there the retina holds a dark band (the fluid) under its bright inner layers
    def dark_in_retina(volume):
        profile = ndimage.gaussian_filter1d(volume[x, :, z], 1.0)
        top = int(np.argmax(profile > 0.4))
        return int((profile[top:top + 20] < 0.12).sum())
    assert dark_in_retina(fluid) >= dark_in_retina(normal) + 2
    assert 0 <= fluid.min() and fluid.max() <= 1
    photo = fundus_like(0, 64)
    assert photo.shape == (64, 64, 3) and photo.dtype == np.uint8
    assert photo[0, 0].max() == 0 and photo[32, 32, 0] > photo[32, 32, 2]  # dark outside the field; reddish


def test_oct_thickening_moves_the_outer_retina_down_and_is_labelled(tmp_path):
    def retina_surfaces(volume):  # mean depth of the first and the last bright voxel of each A-scan
        bright = ndimage.gaussian_filter(volume, (1, 1, 0.5)) > 0.45
        return bright.argmax(axis=1).mean(), volume.shape[1] - 1 - bright[:, ::-1].argmax(axis=1).mean()

    normal, label0 = oct_volume(4, (48, 48, 16), thickened=False, task="thickening")
    thick, label1 = oct_volume(4, (48, 48, 16), thickened=True, task="thickening")
    assert (label0, label1) == (0, 1)
    (top0, bottom0), (top1, bottom1) = retina_surfaces(normal), retina_surfaces(thick)
    assert abs(top1 - top0) < 0.5 and bottom1 > bottom0 + 2  # same eye, same inner surface, thicker retina
    _, fluid_label = oct_volume(4, (48, 48, 16), fluid=True, thickened=False)  # the default task is fluid
    assert fluid_label == 1
    with pytest.raises(ValueError, match="task must be one of"):
        oct_volume(4, task="drusen")
    dataset = write_ophthalmic_dataset(tmp_path, n_fundus=0, n_bscans=2, n_volumes=2, size_2d=32,
                                       shape_3d=(32, 32, 16), bscan_folders=0, task="thickening")
    items = json.loads(dataset.read_text())
    assert [item["label"] for item in items] == [0, 1, 0, 1]
    volume, _ = read_image(dataset.parent / items[3]["image"])
    assert np.allclose(volume, oct_volume(20_001, (32, 32, 16), thickened=True)[0], atol=1e-6)  # written as drawn


def test_bscan_folder_is_read_as_a_volume_in_name_order(tmp_path):
    stack = tmp_path / "eye"
    for z in (0, 2, 10):  # numbered without zero padding: 2 comes before 10
        save_png(np.full((6, 4), z * 10, np.uint8), stack / f"bscan_{z}.png", channel_dim=None)
    volume, meta = read_image(stack)
    assert volume.shape == (6, 4, 3) and volume[0, 0].tolist() == [0, 20, 100]
    assert meta["kind"] == "image-stack" and meta["slices"] == ["bscan_0.png", "bscan_2.png", "bscan_10.png"]
    assert describe(stack)["shape"] == [1, 6, 4, 3]
    save_png(np.zeros((5, 4), np.uint8), stack / "bscan_11.png", channel_dim=None)
    with pytest.raises(ImageReadError, match=r"bscan_11.png: B-scan of size \(5, 4\)"):
        read_image(stack)


def test_dataset_description_items_and_clear_errors(dataset, tmp_path):
    items = read_items(dataset)
    assert [i["spatial_dims"] for i in items] == [2, 2, 2, 2, 3, 3, 3]
    assert items[4]["name"] == "volumes/oct_20000" and items[4]["image"].startswith(str(dataset.parent))
    assert [i["label"] for i in read_items(dataset, spatial_dims=3, labelled=True)] == [0, 1, 0]
    bad = tmp_path / "bad.json"
    for entries, message in (({"image": "x"}, "a JSON list"), ([{"path": "x"}], "item 0: an item needs"),
                             ([{"image": "nowhere.png"}], r"item 0 \(nowhere.png\): no such file"),
                             ([{"image": str(dataset), "label": "fluid"}], "label must be an integer")):
        bad.write_text(json.dumps(entries))
        with pytest.raises(MedvitError, match=message):
            read_items(bad)
    bad.write_text(json.dumps([{"image": items[0]["image"], "spatial_dims": 3}]))
    volume_item = read_items(bad)[0]  # said to be 3D: a photo is refused when loaded, naming it
    with pytest.raises(MedvitError, match=r"fundus_0000.png: a 2D image .* given to the 3D path"):
        load_item(volume_item, 32, (32, 32, 16))


def test_loading_resizes_or_refuses_the_wrong_depth(dataset):
    volume = read_items(dataset, spatial_dims=3)[1]  # NIfTI, depth 16
    assert load_item(volume, 32, (32, 32, 16)).shape == (1, 32, 32, 16)
    resized = load_item(volume, 32, (16, 16, 8))
    assert resized.shape == (1, 16, 16, 8) and resized.dtype == torch.float32
    assert abs(float(resized.mean())) < 1e-5 and float(resized.std()) == pytest.approx(1, abs=1e-5)
    with pytest.raises(MedvitError, match=r"oct_20001.nii.gz: a volume of depth 16 .* takes 8"):
        load_item(volume, 32, (32, 32, 8), wrong_depth="error")
    with pytest.raises(MedvitError, match="this network takes 2D items only"):
        load_item(volume, 32, (32, 32, 16), spatial_dims=2)
    photo = LoadOphthalmicd(32, (32, 32, 16), keep=["image", "spatial_dims"])(read_items(dataset)[0])
    assert set(photo) == {"image", "spatial_dims"} and photo["image"].shape == (1, 32, 32)


def test_a_dicom_series_is_a_3d_item(tmp_path):
    """3D items are read by medvit.io: NIfTI and B-scan folders above, a DICOM series here."""
    from medvit.data import pydicom_sample

    description = tmp_path / "dataset.json"
    description.write_text(json.dumps([{"image": str(pydicom_sample("ct_volume")), "label": 0}]))
    item = read_items(description)[0]
    assert item["spatial_dims"] == 3  # from the files: a series folder
    assert load_item(item, 32, (32, 32, 16)).shape == (1, 32, 32, 16)


def test_sampler_interleaves_2d_and_3d_batches_and_sees_every_item():
    dims = [2] * 7 + [3] * 3
    sampler = InterleavedBatchSampler(dims, batch_size_2d=2, batch_size_3d=1, pattern=[2, 2, 3], seed=1)
    batches = list(sampler)
    kinds = [dims[b[0]] for b in batches]
    assert kinds == [2, 2, 3, 2, 2, 3, 3] and len(sampler) == 7
    assert all(len({dims[i] for i in b}) == 1 for b in batches)
    assert sorted(i for b in batches for i in b) == list(range(10))
    assert list(sampler) != batches  # the next epoch is shuffled anew
    shares = [sorted(i for b in InterleavedBatchSampler(dims, 2, 1, num_replicas=2, rank=r) for i in b) for r in (0, 1)]
    assert len(shares[0]) == len(shares[1]) == 6 and set(shares[0]) | set(shares[1]) == set(range(10))
    with pytest.raises(ValueError, match="pattern"):
        InterleavedBatchSampler(dims, pattern=[2, 4])


def test_metrics_match_hand_computed_values():
    assert cohen_kappa([0, 0, 1, 1], [0, 1, 1, 1], 2) == pytest.approx(0.5)
    metrics = classification_metrics([0, 0, 1, 1], np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8]]))
    assert metrics == {"auc": 1.0, "accuracy": 0.75, "kappa": pytest.approx(0.5), "n": 4}


def test_cohort_probabilities_and_evaluation_with_error_rows(dataset, tmp_path):
    table = run_ophthalmic_cohort(dataset, tmp_path / "all", network=TINY_NET, spatial_dims=3, progress=False)
    ok = table[table["status"] == "ok"]
    assert ok["image"].tolist() == ["volumes/oct_20000", "volumes/oct_20001.nii.gz", "volumes/oct_20002.nii.gz"]
    assert np.allclose(ok[["p_normal", "p_fluid"]].sum(axis=1), 1)
    errors = table[table["status"] == "error"]
    assert len(errors) == 4 and errors["error"].str.contains("given to the 3D path").all()
    with pytest.raises(MedvitError, match="nowhere.pt: no such checkpoint file"):
        run_ophthalmic_cohort(dataset, tmp_path / "x", network=TINY_NET, checkpoint=str(tmp_path / "nowhere.pt"))
    metrics = evaluate_ophthalmic_cohort(dataset, tmp_path / "eval", network=TINY_NET, spatial_dims=3, progress=False)
    assert metrics["n"] == 3 and set(metrics) == {"auc", "accuracy", "kappa", "n"}
    assert (tmp_path / "eval" / "metrics.csv").read_text().startswith("auc,accuracy,kappa,n\n")
