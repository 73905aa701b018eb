"""fastMRI's 2-D U-Net (Ronneberger et al. 2015, as fastMRI builds it), parameter for parameter.

The parameters carry fastMRI's names (``down_sample_layers.0.layers.0.weight``,
``up_conv.3.1.bias``, ...), so fastMRI and CMRxRecon E2E-VarNet checkpoints load unchanged.
MONAI's ``BasicUNet`` / ``UNet`` are the same idea but name and order their layers
otherwise, so they cannot hold these checkpoints; MONAI's ``ADN`` block supplies the
instance norm / LeakyReLU / dropout between the convolutions.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from monai.networks.blocks import ADN
from torch import nn

LEAKY_RELU = ("leakyrelu", {"negative_slope": 0.2, "inplace": True})


def _norm_act(channels: int, drop_prob: float | None = None) -> ADN:
    """Instance norm, LeakyReLU(0.2) and (with ``drop_prob``) channel dropout, in fastMRI's order."""
    ordering = "NA" if drop_prob is None else "NAD"
    return ADN(ordering=ordering, in_channels=channels, norm="INSTANCE", norm_dim=2, act=LEAKY_RELU,
               dropout=drop_prob, dropout_dim=2)


class ConvBlock(nn.Module):
    """Two 3×3 convolutions (no bias), each followed by instance norm, LeakyReLU(0.2) and dropout.

    The convolutions sit at fastMRI's positions 0 and 4 of ``layers`` (its norm, activation
    and dropout took 1-3 and 5-7), which is what the checkpoints' keys name.
    """

    def __init__(self, in_chans: int, out_chans: int, drop_prob: float):
        super().__init__()
        self.in_chans, self.out_chans, self.drop_prob = in_chans, out_chans, drop_prob
        self.layers = nn.Sequential(OrderedDict([
            ("0", nn.Conv2d(in_chans, out_chans, kernel_size=3, padding=1, bias=False)),
            ("1", _norm_act(out_chans, drop_prob)),
            ("4", nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False)),
            ("5", _norm_act(out_chans, drop_prob)),
        ]))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(N, in_chans, H, W) → (N, out_chans, H, W)."""
        return self.layers(image)


class TransposeConvBlock(nn.Module):
    """A 2×2 stride-2 transposed convolution (no bias), instance norm and LeakyReLU(0.2)."""

    def __init__(self, in_chans: int, out_chans: int):
        super().__init__()
        self.in_chans, self.out_chans = in_chans, out_chans
        self.layers = nn.Sequential(OrderedDict([
            ("0", nn.ConvTranspose2d(in_chans, out_chans, kernel_size=2, stride=2, bias=False)),
            ("1", _norm_act(out_chans)),
        ]))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(N, in_chans, H, W) → (N, out_chans, 2H, 2W)."""
        return self.layers(image)


class Unet(nn.Module):
    """fastMRI's U-Net: ``num_pool_layers`` average-pooling steps down, transposed convolutions up.

    Args:
        in_chans: input channels.
        out_chans: output channels.
        chans: channels of the first convolution (doubled at each level down).
        num_pool_layers: down- and up-sampling steps.
        drop_prob: channel dropout probability.
    """

    def __init__(self, in_chans: int, out_chans: int, chans: int = 32, num_pool_layers: int = 4, drop_prob: float = 0.0):
        super().__init__()
        self.in_chans, self.out_chans, self.chans = in_chans, out_chans, chans
        self.num_pool_layers, self.drop_prob = num_pool_layers, drop_prob
        widths = [chans * 2**level for level in range(num_pool_layers + 1)]
        self.down_sample_layers = nn.ModuleList(
            [ConvBlock(in_chans, chans, drop_prob)]
            + [ConvBlock(widths[level], widths[level + 1], drop_prob) for level in range(num_pool_layers - 1)]
        )
        self.conv = ConvBlock(widths[-2], widths[-1], drop_prob)
        ups = list(reversed(range(num_pool_layers)))  # levels on the way up
        # registered in fastMRI's order, so that state_dict keys come in its order too
        self.up_conv = nn.ModuleList([ConvBlock(widths[level + 1], widths[level], drop_prob) for level in ups[:-1]])
        self.up_conv.append(nn.Sequential(
            ConvBlock(widths[1], widths[0], drop_prob), nn.Conv2d(widths[0], out_chans, kernel_size=1, stride=1)
        ))
        self.up_transpose_conv = nn.ModuleList([TransposeConvBlock(widths[level + 1], widths[level]) for level in ups])

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(N, in_chans, H, W) → (N, out_chans, H, W); odd sizes are reflect-padded on the way up."""
        stack = []
        output = image
        for layer in self.down_sample_layers:
            output = layer(output)
            stack.append(output)
            output = F.avg_pool2d(output, kernel_size=2, stride=2, padding=0)
        output = self.conv(output)
        for transpose_conv, conv in zip(self.up_transpose_conv, self.up_conv):
            skip = stack.pop()
            output = transpose_conv(output)
            # pooling dropped a row / column of an odd size: pad it back (right / bottom)
            pad_w, pad_h = int(output.shape[-1] != skip.shape[-1]), int(output.shape[-2] != skip.shape[-2])
            if pad_w or pad_h:
                output = F.pad(output, [0, pad_w, 0, pad_h], "reflect")
            output = conv(torch.cat([output, skip], dim=1))
        return output
