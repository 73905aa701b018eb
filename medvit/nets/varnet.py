"""E2E-VarNet (Sriram et al., MICCAI 2020), the backbone of the CMRxRecon 2023 winners.

The constructor arguments, ``forward(masked_kspace, mask, num_low_frequencies=None)``
(tensors ``[B, coils, H, W, 2]``, mask ``[B, 1, 1, W, 1]`` over the phase-encoding axis W)
and every ``state_dict`` key and shape are those of ``fastmri.models.VarNet``, so fastMRI and
challenge checkpoints load unchanged and give its outputs. MONAI's
``VariationalNetworkModel`` is another network: its coil-map normalisation divides real
and imaginary parts separately.

Inside, k-space is a complex tensor, and for even H and W the centred FFTs are done without
shifting: shifting by half the size is multiplying by a ±1 chequerboard on the other side
of the transform, so the cascades keep k-space in that modulated form, fold the sign into
the coil maps once, and run plain FFTs (the magnitude at the end is unchanged). That
saves fastMRI's four rolls (copies) per transform.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from medvit.nets.fastmri_unet import Unet
from medvit.recon.coils import rss
from medvit.recon.fft import fft2c, ifft2c


class NormUnet(nn.Module):
    """fastMRI's U-Net on complex images, with the input normalised and padded to multiples of 16.

    Normalisation is per image, separately for the real and the imaginary channels (mean,
    unbiased standard deviation), as fastMRI's.

    Args:
        chans, num_pools: channels of the first layer; down-sampling steps.
        in_chans, out_chans: real channels in and out (2 per complex channel).
        drop_prob: dropout probability.
    """

    def __init__(self, chans: int, num_pools: int, in_chans: int = 2, out_chans: int = 2, drop_prob: float = 0.0):
        super().__init__()
        self.unet = Unet(in_chans=in_chans, out_chans=out_chans, chans=chans, num_pool_layers=num_pools, drop_prob=drop_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """complex (B, C, H, W) → complex (B, out_chans / 2, H, W)."""
        b, c, h, w = x.shape
        x = torch.cat([x.real, x.imag], dim=1)  # fastMRI's channel order: all real parts, then imaginary
        grouped = x.view(b, 2, c * h * w)
        mean = grouped.mean(dim=2).view(b, 2, 1, 1)
        std = grouped.std(dim=2).view(b, 2, 1, 1)
        x = (x.view(b, 2, c, h, w) - mean[:, :, None]) / std[:, :, None]
        x = x.view(b, 2 * c, h, w)
        h_mult, w_mult = ((h - 1) | 15) + 1, ((w - 1) | 15) + 1
        h_pad = [math.floor((h_mult - h) / 2), math.ceil((h_mult - h) / 2)]
        w_pad = [math.floor((w_mult - w) / 2), math.ceil((w_mult - w) / 2)]
        x = self.unet(F.pad(x, w_pad + h_pad))
        x = x[..., h_pad[0] : h_mult - h_pad[1], w_pad[0] : w_mult - w_pad[1]]
        half = x.shape[1] // 2
        x = x.reshape(b, 2, half, h, w) * std[:, :, None] + mean[:, :, None]
        return torch.complex(x[:, 0], x[:, 1])


class SensitivityModel(nn.Module):
    """Coil sensitivity maps from the centre of k-space: a NormUnet per coil image, divided by their RSS.

    Args:
        chans, num_pools, in_chans, out_chans, drop_prob: of the NormUnet.
        mask_center: keep only the centre (calibration) lines before estimating.
    """

    def __init__(self, chans: int, num_pools: int, in_chans: int = 2, out_chans: int = 2, drop_prob: float = 0.0,
                 mask_center: bool = True):
        super().__init__()
        self.mask_center = mask_center
        self.norm_unet = NormUnet(chans, num_pools, in_chans=in_chans, out_chans=out_chans, drop_prob=drop_prob)

    @staticmethod
    def get_pad_and_num_low_freqs(mask: torch.Tensor, num_low_frequencies: int | None = None):
        """fastMRI's rule: the centre block is twice the shorter run of sampled lines from W // 2.

        Returns:
            ``(pad, num_low_frequencies)``: long tensors (B,), first centre line and count.
        """
        if num_low_frequencies is None or num_low_frequencies == 0:
            squeezed = mask[:, 0, 0, :, 0].to(torch.int8)
            cent = squeezed.shape[1] // 2
            # argmin finds the first unsampled line on each side of the centre
            left = torch.argmin(squeezed[:, :cent].flip(1), dim=1)
            right = torch.argmin(squeezed[:, cent:], dim=1)
            num_low = torch.max(2 * torch.min(left, right), torch.ones_like(left))
        else:
            num_low = num_low_frequencies * torch.ones(mask.shape[0], dtype=mask.dtype, device=mask.device)
        pad = (mask.shape[-2] - num_low + 1) // 2
        return pad.type(torch.long), num_low.type(torch.long)

    def forward(self, kspace: torch.Tensor, mask: torch.Tensor, num_low_frequencies: int | None = None) -> torch.Tensor:
        """complex k-space (B, C, H, W) and mask (B, 1, 1, W, 1) → complex maps (B, C, H, W), RSS 1."""
        if self.mask_center:
            pad, num_low = self.get_pad_and_num_low_freqs(mask, num_low_frequencies)
            lines = torch.arange(kspace.shape[-1], device=kspace.device)
            keep = (lines >= pad[:, None]) & (lines < (pad + num_low)[:, None])
            kspace = kspace * keep[:, None, None, :]
        b, c, h, w = kspace.shape
        images = ifft2c(kspace).reshape(b * c, 1, h, w)
        # Each coil image is normalised on its own, so they can go one at a time: on CPU that
        # stays in cache, twice as fast and a tenth of the memory of all coils in one batch
        # (10 coils, 512×246), with the same numbers. GPUs prefer the batch.
        chunk = 1 if images.device.type == "cpu" else len(images)
        maps = torch.cat([self.norm_unet(part) for part in images.split(chunk)]).reshape(b, c, h, w)
        return maps / rss(maps, 1, keepdims=True)


class VarNetBlock(nn.Module):
    """One cascade: soft data consistency (weight ``dc_weight``) plus a learned regulariser.

    ``forward`` works on k-space in the form :class:`VarNet` keeps it (see the module's
    docstring): ``fft`` / ``ifft`` are the transforms for that form, ``sens_maps`` the
    matching maps.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.dc_weight = nn.Parameter(torch.ones(1))

    def forward(self, current_kspace, ref_kspace, mask, sens_maps, fft=fft2c, ifft=ifft2c) -> torch.Tensor:
        """complex (B, C, H, W) k-space, reference and maps, bool mask (B, 1, 1, W) → next k-space."""
        soft_dc = torch.where(mask, current_kspace - ref_kspace, 0) * self.dc_weight
        image = (ifft(current_kspace) * sens_maps.conj()).sum(dim=1, keepdim=True)
        model_term = fft(self.model(image) * sens_maps)
        return current_kspace - soft_dc - model_term


def _plain_fft(x: torch.Tensor) -> torch.Tensor:
    return torch.fft.fft2(x, norm="ortho")


def _plain_ifft(x: torch.Tensor) -> torch.Tensor:
    return torch.fft.ifft2(x, norm="ortho")


def chequerboard(h: int, w: int, device=None) -> tuple[torch.Tensor, int]:
    """The (-1)^(y + x) board C over (h, w) and the sign s = (-1)^(h/2 + w/2) for which, at even
    sizes, ``fft2c(x) == s * C * fft2(C * x)`` and ``ifft2c(k) == s * C * ifft2(C * k)`` (orthonormal)."""
    y = torch.arange(h, device=device)[:, None]
    x = torch.arange(w, device=device)[None, :]
    return (1 - 2 * ((y + x) % 2)).to(torch.float32), (-1) ** ((h // 2 + w // 2) % 2)


class VarNet(nn.Module):
    """E2E-VarNet: a sensitivity network, then ``num_cascades`` cascades of U-Net + soft data consistency.

    Args:
        num_cascades: cascades (12 in the paper and fastMRI's default).
        sens_chans, sens_pools: channels and down-sampling steps of the sensitivity U-Net.
        chans, pools: channels and down-sampling steps of each cascade's U-Net.
        mask_center: estimate coil maps from the centre lines only.
        single_coil: for single-coil k-space: no sensitivity network (its parameters are
            absent from the state dict), the one coil's map is 1.
        num_adj_frames: temporal context, as the CMRxRecon 2023 winner (PromptMR's
            ``num_adj_slices``) fed it: the coil axis holds this many neighbouring frames (or
            weightings) of equal coil count, stacked as extra coils, the reconstructed frame in
            the middle; the output is the RSS of the middle frame's coils only. The cascades and
            coil maps see all of them as one set of coils (fastMRI's network and parameters
            unchanged; PromptMR's own U-Net takes the frames as channels instead). 1: none.
    """

    def __init__(self, num_cascades: int = 12, sens_chans: int = 8, sens_pools: int = 4, chans: int = 18,
                 pools: int = 4, mask_center: bool = True, single_coil: bool = False, num_adj_frames: int = 1):
        super().__init__()
        if num_adj_frames < 1 or num_adj_frames % 2 == 0:
            raise ValueError(f"num_adj_frames must be odd and positive (the frame in the middle), got {num_adj_frames}")
        if single_coil and num_adj_frames > 1:
            raise ValueError("temporal context (num_adj_frames > 1) needs multi-coil k-space: "
                             "a single-coil network has no coil maps to tell the frames apart")
        self.single_coil = single_coil
        self.num_adj_frames = num_adj_frames
        if not single_coil:
            self.sens_net = SensitivityModel(chans=sens_chans, num_pools=sens_pools, mask_center=mask_center)
        self.cascades = nn.ModuleList([VarNetBlock(NormUnet(chans, pools)) for _ in range(num_cascades)])

    def forward(self, masked_kspace: torch.Tensor, mask: torch.Tensor, num_low_frequencies: int | None = None) -> torch.Tensor:
        """Reconstruct magnitude images.

        Args:
            masked_kspace: (B, coils, H, W, 2), real and imaginary parts last, zero where not sampled.
            mask: bool (B, 1, 1, W, 1), the sampled phase-encoding lines (W).
            num_low_frequencies: centre lines for the coil maps; found from the mask when None.

        Returns:
            (B, H, W): RSS of the reconstructed coil images (of the middle frame's coils with
            ``num_adj_frames`` > 1).
        """
        kspace = torch.view_as_complex(masked_kspace.contiguous())
        line_mask = mask[..., 0].bool()
        if kspace.shape[1] % self.num_adj_frames:
            raise ValueError(f"{kspace.shape[1]} coils do not split into {self.num_adj_frames} frames of equal coil count")
        if self.single_coil:
            if kspace.shape[1] != 1:
                raise ValueError(f"a single-coil VarNet takes one coil, got k-space of shape {tuple(masked_kspace.shape)}")
            sens_maps = torch.ones_like(kspace)
        else:
            sens_maps = self.sens_net(kspace, mask, num_low_frequencies)
        h, w = kspace.shape[-2:]
        fft, ifft = fft2c, ifft2c
        if h % 2 == 0 and w % 2 == 0:  # work on chequerboard-modulated k-space (see the module docstring)
            board, sign = chequerboard(h, w, kspace.device)
            kspace, sens_maps, fft, ifft = kspace * board, sens_maps * (sign * board), _plain_fft, _plain_ifft
        current = kspace
        for cascade in self.cascades:
            current = cascade(current, kspace, line_mask, sens_maps, fft, ifft)
        if self.num_adj_frames > 1:
            current = current.chunk(self.num_adj_frames, dim=1)[self.num_adj_frames // 2]
        return rss(ifft(current), 1)
