"""k-space maths: centred FFTs, RSS, masks, baselines and the CMRxRecon scoring."""

import numpy as np
import pytest
import torch

from medvit.errors import MedvitError
from medvit.recon import (
    acs_coil_maps,
    apply_mask,
    calibration_lines,
    cmrx_mask,
    equispaced_mask,
    fft2c,
    ifft2c,
    random_mask,
    rss,
    sense,
    zero_filled,
)
from medvit.recon.masks import fastmri_center_lines
from medvit.cmrxrecon.scoring import center_crop, matlab_round, ranking_slices, ranking_volume, score_images, score_volume
from tests.fastmri_reference import import_fastmri
from tests.kspace_data import random_complex


def _smooth_object(ny=64, nx=48):
    """A complex test object: two ellipses with a smooth phase."""
    y, x = np.mgrid[-1 : 1 : ny * 1j, -1 : 1 : nx * 1j]
    image = ((x / 0.7) ** 2 + (y / 0.8) ** 2 < 1) * 1.0 + ((x / 0.3) ** 2 + ((y - 0.2) / 0.25) ** 2 < 1) * 0.8
    return (image * np.exp(1j * (0.6 * x + 0.3 * y))).astype(np.complex64)


def _coil_maps(num_coils, ny, nx):
    """Smooth coil sensitivities around the field of view."""
    y, x = np.mgrid[-1 : 1 : ny * 1j, -1 : 1 : nx * 1j]
    maps = []
    for c in range(num_coils):
        angle = 2 * np.pi * c / num_coils
        cy, cx = 1.2 * np.sin(angle), 1.2 * np.cos(angle)
        maps.append(np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 0.5) * np.exp(1j * (angle + 0.5 * x)))
    return np.asarray(maps, dtype=np.complex64)


# --- FFTs and RSS -------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 6), (5, 7), (3, 8, 9)])
def test_fft_is_centred_orthonormal_and_inverted(shape):
    image = random_complex(shape)
    kspace = fft2c(image)
    np.testing.assert_allclose(ifft2c(kspace), image, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(kspace), np.linalg.norm(image), rtol=1e-5)  # Parseval
    constant = np.ones(shape[-2:], np.complex64)
    peak = np.unravel_index(np.abs(fft2c(constant)).argmax(), shape[-2:])
    assert peak == (shape[-2] // 2, shape[-1] // 2)  # DC at n // 2
    assert np.isclose(abs(fft2c(constant)[peak]), np.sqrt(np.prod(shape[-2:])))


def test_torch_and_numpy_ffts_agree():
    image = random_complex((2, 5, 6))
    np.testing.assert_allclose(fft2c(torch.from_numpy(image)).numpy(), fft2c(image), atol=1e-5)
    np.testing.assert_allclose(ifft2c(torch.from_numpy(image)).numpy(), ifft2c(image), atol=1e-5)
    np.testing.assert_allclose(rss(torch.from_numpy(image), 0).numpy(), rss(image, 0), atol=1e-6)


@pytest.mark.parametrize("shape", [(3, 8, 6), (2, 7, 5)])
def test_ffts_and_rss_equal_fastmri(shape):
    fastmri = import_fastmri()
    image = random_complex(shape)
    as_pairs = torch.view_as_real(torch.from_numpy(image))
    np.testing.assert_allclose(fft2c(image), torch.view_as_complex(fastmri.fft2c(as_pairs)).numpy(), atol=1e-5)
    np.testing.assert_allclose(ifft2c(image), torch.view_as_complex(fastmri.ifft2c(as_pairs)).numpy(), atol=1e-5)
    np.testing.assert_allclose(rss(image, 0), fastmri.rss_complex(as_pairs, 0).numpy(), atol=1e-5)


def test_rss_of_one_coil_is_the_magnitude():
    image = random_complex((1, 4, 4))
    np.testing.assert_allclose(rss(image, 0), np.abs(image[0]), rtol=1e-6)


# --- masks ----------------------------------------------------------------------------------


def test_cmrx_mask_has_24_centred_acs_lines_and_every_rth_line_from_zero():
    mask = cmrx_mask(246, 4)
    assert mask.dtype == bool and mask.shape == (246,)
    assert mask[111:135].all()  # 246 // 2 - 12 = 111, as MATLAB's zpad centres
    assert mask[::4].all()
    outside = np.ones(246, bool)
    outside[111:135] = False
    outside[::4] = False
    assert not mask[outside].any()
    assert calibration_lines(mask) == slice(111, 135)
    # odd sizes: zpad centres at floor(n/2) + 1 - 12 (1-based), i.e. line n // 2 - 12
    odd = cmrx_mask(205, 8)
    assert np.flatnonzero(odd[89:115]).tolist() == list(range(1, 25))  # lines 90..113; 89 and 114 are not R-th
    assert cmrx_mask(246, 10)[110]  # an R-th line may touch the block: calibration grows with it
    assert calibration_lines(cmrx_mask(246, 10)) == slice(110, 135)


@pytest.mark.parametrize("acceleration", [4, 8, 10])
def test_cmrx_mask_acceleration_is_about_r(acceleration):
    mask = cmrx_mask(246, acceleration)
    assert 246 / mask.sum() == pytest.approx(acceleration * 246 / (246 + 24 * (acceleration - 1)), rel=0.1)


@pytest.mark.parametrize("num_cols,acceleration,fraction,seed", [(368, 4, 0.08, 0), (246, 8, 0.04, 3), (101, 4, 0.08, 7)])
def test_fastmri_masks_equal_fastmri(num_cols, acceleration, fraction, seed):
    import_fastmri()
    from fastmri.data.subsample import EquiSpacedMaskFunc, RandomMaskFunc

    shape = (1, 16, num_cols, 2)
    expected, num_low = RandomMaskFunc([fraction], [acceleration])(shape, seed=seed)
    np.testing.assert_array_equal(random_mask(num_cols, acceleration, fraction, seed=seed), expected.numpy().ravel() > 0)
    expected, _ = EquiSpacedMaskFunc([fraction], [acceleration])(shape, seed=seed)
    np.testing.assert_array_equal(equispaced_mask(num_cols, acceleration, fraction, seed=seed), expected.numpy().ravel() > 0)
    expected, _ = EquiSpacedMaskFunc([fraction], [acceleration])(shape, offset=1)
    np.testing.assert_array_equal(equispaced_mask(num_cols, acceleration, fraction, offset=1), expected.numpy().ravel() > 0)
    lines = calibration_lines(random_mask(num_cols, acceleration, fraction, seed=seed))
    assert lines.stop - lines.start >= num_low


def test_fastmri_masks_without_fastmri():
    mask = equispaced_mask(100, 4, 0.1, offset=2)
    assert mask[45:55].all() and mask[2::4].all() and mask.sum() == len(set(range(45, 55)) | set(range(2, 100, 4)))
    random = random_mask(10_000, 4, 0.08, seed=1)
    assert random[fastmri_center_lines(10_000, 800)].all() and fastmri_center_lines(10_000, 800).start == 4600
    assert random.sum() == pytest.approx(10_000 / 4, rel=0.05)
    assert not np.array_equal(random, random_mask(10_000, 4, 0.08, seed=2))
    with pytest.raises(ValueError, match="do not fit"):
        cmrx_mask(20, 4)
    with pytest.raises(ValueError, match="acceleration"):
        cmrx_mask(246, 0)


def test_apply_mask_zeroes_unsampled_lines_on_the_given_axis():
    kspace = random_complex((3, 10, 7))
    mask = np.zeros(10, bool)
    mask[[0, 4, 5]] = True
    masked = apply_mask(kspace, mask)
    assert np.array_equal(masked[:, mask], kspace[:, mask]) and not masked[:, ~mask].any()
    masked_t = apply_mask(torch.from_numpy(kspace).transpose(-1, -2), mask, axis=-1)
    np.testing.assert_array_equal(masked_t.transpose(-1, -2).numpy(), masked)
    with pytest.raises(ValueError, match="does not fit"):
        apply_mask(kspace, mask[:7])
    with pytest.raises(ValueError, match="centre of k-space"):
        calibration_lines(~cmrx_mask(64, 4, acs_lines=8))


# --- baselines ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def multicoil():
    image = _smooth_object()
    maps = _coil_maps(8, *image.shape)
    return image, maps, fft2c(maps * image)


def test_zero_filled_full_sampling_is_rss_of_coil_images(multicoil):
    image, maps, kspace = multicoil
    np.testing.assert_allclose(zero_filled(kspace), np.abs(image) * rss(maps, 0), atol=1e-5)
    np.testing.assert_allclose(zero_filled(kspace[0], coil_axis=None), np.abs(maps[0] * image), atol=1e-5)
    assert torch.is_tensor(zero_filled(torch.from_numpy(kspace)))


def test_acs_coil_maps_are_smooth_and_rss_normalised(multicoil):
    image, maps, kspace = multicoil
    mask = cmrx_mask(image.shape[0], 4, acs_lines=16)
    estimated = acs_coil_maps(apply_mask(kspace, mask), mask)
    inside = np.abs(image) > 0.5
    np.testing.assert_allclose(rss(estimated, 0)[inside], 1.0, atol=1e-3)
    # inside the object each estimated map has the true map's shape, up to the RSS scale
    truth = maps / rss(maps, 0)
    phase_free = estimated * np.exp(-1j * np.angle(image))
    assert np.abs(phase_free - truth)[:, inside].mean() < 0.1


def test_sense_beats_zero_filled_and_recovers_full_sampling(multicoil):
    image, maps, kspace = multicoil
    reference = zero_filled(kspace)
    mask = cmrx_mask(image.shape[0], 4, acs_lines=16)
    undersampled = apply_mask(kspace, mask)
    zf_error = np.linalg.norm(zero_filled(undersampled) - reference)
    sense_image = sense(undersampled, mask, iterations=20)
    assert sense_image.shape == image.shape and sense_image.dtype == np.complex64
    sense_error = np.linalg.norm(np.abs(sense_image) - reference)
    assert sense_error < 0.3 * zf_error
    # with the true (RSS-normalised) maps and every line, SENSE is the coil combination itself
    full = np.ones(image.shape[0], bool)
    exact = sense(kspace, full, coil_maps=maps / rss(maps, 0), iterations=3)
    np.testing.assert_allclose(np.abs(exact), reference, atol=1e-4)


# --- scoring ------------------------------------------------------------------------------


def test_matlab_rounding_and_selection():
    assert [matlab_round(v) for v in (0.5, 1.5, 2.5, -2.5, 170.67, 102.5)] == [1, 2, 3, -3, 171, 103]
    # MATLAB round(sz/2)-1 : round(sz/2), 1-based
    assert ranking_slices(10) == slice(3, 5)
    assert ranking_slices(11) == slice(4, 6)
    assert ranking_slices(5) == slice(1, 3)  # round(2.5) = 3 in MATLAB (Python's round gives 2)
    assert ranking_slices(3) == slice(0, 2)
    assert ranking_slices(2) == slice(0, 2) and ranking_slices(1) == slice(0, 1)


def test_center_crop_is_matlab_crop():
    column = np.arange(246)[None, :]
    cropped = center_crop(np.repeat(column, 4, 0), (4, 123))
    assert cropped[0, 0] == 62 and cropped.shape == (4, 123)  # floor(246/2)+1+ceil(-123/2) = 63, 1-based
    rows = center_crop(np.arange(512)[:, None], (171, 1))
    assert rows[0, 0] == 256 - 85 and rows.shape == (171, 1)


def test_ranking_volume_selects_slices_frames_and_crops():
    volume = np.zeros((512, 246, 10, 12), np.float64)
    volume[:, :, :, :] = np.arange(10)[:, None] * 100 + np.arange(12)  # value = 100 z + t
    cine = ranking_volume(volume, "cine")
    assert cine.shape == (171, 123, 2, 3) and cine.dtype == np.float32
    assert cine[0, 0].tolist() == [[300, 301, 302], [400, 401, 402]]
    mapping = ranking_volume(volume[..., :9], "mapping")
    assert mapping.shape == (171, 123, 2, 9)
    assert ranking_volume(volume[:, :, :1, :2], "cine").shape == (171, 123, 1, 2)
    with pytest.raises(MedvitError, match="unknown CMRxRecon task"):
        ranking_volume(volume, "perfusion")
    with pytest.raises(MedvitError, match=r"\(sx, sy, z, t\)"):
        ranking_volume(volume[..., 0], "cine")


def test_scores_follow_the_challenge_definitions():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    rng = np.random.default_rng(0)
    ref = rng.uniform(0.1, 2.0, size=(60, 40, 4, 5))
    pred = ref + rng.normal(scale=0.05, size=ref.shape)
    scores = score_volume(pred, ref, "cine")
    r, p = ranking_volume(ref, "cine"), ranking_volume(pred, "cine")
    expected = {"psnr": [], "ssim": [], "nmse": []}
    for z in range(2):
        for t in range(3):
            g, q = r[:, :, z, t] / r[:, :, z, t].max(), p[:, :, z, t] / p[:, :, z, t].max()
            expected["psnr"].append(peak_signal_noise_ratio(g, q, data_range=g.max()))
            expected["ssim"].append(structural_similarity(g, q, data_range=g.max()))
            expected["nmse"].append(np.linalg.norm(g - q) ** 2 / np.linalg.norm(g) ** 2)
    for metric, values in expected.items():
        assert scores[metric] == pytest.approx(np.mean(values), rel=1e-6)
    # each image is normalised by its own maximum: a global scale changes nothing
    assert score_volume(3.0 * pred, ref, "cine") == pytest.approx(scores, rel=1e-5)
    perfect = score_images(r, r)
    assert perfect["psnr"] == np.inf and perfect["ssim"] == pytest.approx(1.0) and perfect["nmse"] == 0.0
    assert np.isnan(score_images(np.zeros((8, 8)), np.ones((8, 8)))["psnr"])
    with pytest.raises(MedvitError, match="differ in shape"):
        score_volume(pred[:-1], ref, "cine")
