"""PyTorch twins of segtune's segmentation networks (worker/models).

Each twin has the C++ model's state_dict keys, in the same order, with the
same shapes, and computes the same forward pass, so weights move both ways:

  model.load_state_dict(torch.load("weights.pt"))   # saved by segtune
  torch.save(model.state_dict(), "weights.pt")      # read by LoadWeights

Default initializations are not matched (weights are loaded, not drawn).
tests/models/check_python_twin.py checks the equivalence against the C++
build. Only torch is needed (1.13).
"""
import torch
import torch.nn.functional as F
from torch import nn


def _double_conv(in_channels, out_channels):
    """Two 3x3 conv + BatchNorm + ReLU blocks (unet.cc's DoubleConv)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """segtune::models::UNet: `depth` levels of base_channels * 2^level
    channels; input height and width divisible by 2^(depth-1)."""

    def __init__(self, num_classes, in_channels=3, base_channels=8, depth=3):
        super().__init__()
        self.depth = depth

        def channels(level):
            return base_channels << level

        # Registration order is the state_dict order: encoders, then up and
        # decoder per level, then the head, as in unet.cc.
        for level in range(depth):
            in_ch = in_channels if level == 0 else channels(level - 1)
            setattr(self, f"encoder{level}", _double_conv(in_ch, channels(level)))
        for level in range(depth - 1):
            setattr(self, f"up{level}",
                    nn.ConvTranspose2d(channels(level + 1), channels(level), 2, stride=2))
            setattr(self, f"decoder{level}", _double_conv(2 * channels(level), channels(level)))
        self.head = nn.Conv2d(channels(0), num_classes, 1)

    def forward(self, images):
        skips = []
        features = images
        for level in range(self.depth):
            if level > 0:
                features = F.max_pool2d(features, 2)
            features = getattr(self, f"encoder{level}")(features)
            if level + 1 < self.depth:
                skips.append(features)
        for level in reversed(range(self.depth - 1)):
            features = getattr(self, f"up{level}")(features)
            features = getattr(self, f"decoder{level}")(torch.cat([skips[level], features], 1))
        return self.head(features)


def _conv_unit(in_channels, out_channels, kernel_size, stride, groups):
    """Conv (no bias) + BatchNorm + Hardswish (lraspp.cc's ConvUnit)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                  padding=kernel_size // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.Hardswish(),
    )


def _separable_block(in_channels, out_channels, stride):
    """Depthwise 3x3 with `stride`, then pointwise 1x1."""
    return [
        _conv_unit(in_channels, in_channels, 3, stride, in_channels),
        _conv_unit(in_channels, out_channels, 1, 1, 1),
    ]


def _resize_bilinear(features, like):
    return F.interpolate(features, size=like.shape[-2:], mode="bilinear", align_corners=False)


class LRASPPHead(nn.Module):
    """torchvision's LRASPPHead with the same branch names."""

    def __init__(self, low_channels, high_channels, inter_channels, num_classes):
        super().__init__()
        self.cbr = nn.Sequential(
            nn.Conv2d(high_channels, inter_channels, 1, bias=False),
            nn.BatchNorm2d(inter_channels),
            nn.ReLU(inplace=True),
        )
        self.scale = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(high_channels, inter_channels, 1, bias=False),
            nn.Sigmoid(),
        )
        self.low_classifier = nn.Conv2d(low_channels, num_classes, 1)
        self.high_classifier = nn.Conv2d(inter_channels, num_classes, 1)

    def forward(self, low, high):
        gated = self.cbr(high) * self.scale(high)
        return self.low_classifier(low) + self.high_classifier(_resize_bilinear(gated, low))


class LRASPP(nn.Module):
    """segtune::models::LRASPP: `depth` stride-2 stages of base_channels * 2^s
    channels (depth >= 2) and the LR-ASPP head; any input size."""

    def __init__(self, num_classes, in_channels=3, base_channels=8, depth=3):
        super().__init__()

        def channels(stage):
            return base_channels << stage

        self.depth = depth
        for stage in range(depth):
            if stage == 0:
                units = [_conv_unit(in_channels, channels(0), 3, 2, 1)]
            else:
                units = (_separable_block(channels(stage - 1), channels(stage), 2)
                         + _separable_block(channels(stage), channels(stage), 1))
            setattr(self, f"stage{stage}", nn.Sequential(*units))
        high_channels = channels(depth - 1)
        self.head = LRASPPHead(channels(1), high_channels, 4 * high_channels, num_classes)

    def forward(self, images):
        features = images
        low = None
        for stage in range(self.depth):
            features = getattr(self, f"stage{stage}")(features)
            if stage == 1:
                low = features
        return _resize_bilinear(self.head(low, features), images)


def make_model(arch, num_classes, base_channels, depth, in_channels=3):
    """The twin of MakeModel for a spec's model section."""
    if arch == "unet":
        return UNet(num_classes, in_channels, base_channels, depth)
    if arch == "lraspp":
        return LRASPP(num_classes, in_channels, base_channels, depth)
    raise ValueError(f"arch: unknown '{arch}' (expected unet or lraspp)")
