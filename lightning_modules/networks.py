"""Encoder and decoder networks shared by every model: an MLP for tiny images, a DCGAN-like conv net from 28×28 up."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

CONV_MIN_SIZE = 28  # below this an MLP is as good and much faster (8×8 digits)
CONV_CHANNELS = (32, 32, 64, 64)  # the β-VAE paper's encoder (Higgins et al. 2017, Burgess et al. 2018)
CONV_FC = 256


def _n_halvings(size: int) -> int:
    """How many stride-2 convolutions halve ``size`` exactly while it stays above 4 (28→14→7, 64→…→4)."""
    n = 0
    while size % 2 == 0 and size > 4 and n < len(CONV_CHANNELS):
        size //= 2
        n += 1
    return n


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def uses_conv(image_shape: Sequence[int]) -> bool:
    return min(image_shape[1:]) >= CONV_MIN_SIZE


def build_encoder(image_shape: Sequence[int], out_dim: int, hidden: Sequence[int]) -> nn.Module:
    """Image (B, C, H, W) → (B, out_dim)."""
    c, h, w = image_shape
    if not uses_conv(image_shape):
        return nn.Sequential(nn.Flatten(), _mlp([c * h * w, *hidden, out_dim]))
    n = _n_halvings(min(h, w))
    chans = (c, *CONV_CHANNELS[:n])
    convs: list[nn.Module] = []
    for a, b in zip(chans[:-1], chans[1:]):
        convs += [nn.Conv2d(a, b, 4, stride=2, padding=1), nn.ReLU()]
    flat = chans[-1] * (h >> n) * (w >> n)
    return nn.Sequential(*convs, nn.Flatten(), nn.Linear(flat, CONV_FC), nn.ReLU(), nn.Linear(CONV_FC, out_dim))


def build_decoder(latent_dim: int, image_shape: Sequence[int], hidden: Sequence[int]) -> nn.Module:
    """Latent (B, latent_dim) → decoder output (B, C, H, W): logits or means, as the likelihood reads them."""
    c, h, w = image_shape
    if not uses_conv(image_shape):
        return nn.Sequential(_mlp([latent_dim, *reversed(hidden), c * h * w]), nn.Unflatten(1, (c, h, w)))
    n = _n_halvings(min(h, w))
    chans = (*reversed(CONV_CHANNELS[:n]), c)
    sh, sw = h >> n, w >> n
    layers: list[nn.Module] = [
        nn.Linear(latent_dim, CONV_FC),
        nn.ReLU(),
        nn.Linear(CONV_FC, chans[0] * sh * sw),
        nn.ReLU(),
        nn.Unflatten(1, (chans[0], sh, sw)),
    ]
    for i, (a, b) in enumerate(zip(chans[:-1], chans[1:])):
        layers.append(nn.ConvTranspose2d(a, b, 4, stride=2, padding=1))
        if i < n - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = ["build_decoder", "build_encoder", "count_parameters", "uses_conv"]
