"""Concentration and thickness rendered as the imagery a satellite would return.

Three channels, uint8: visible and near-infrared reflectance (ice brightens as it
thickens; clouds cover both) and a radar backscatter channel (sees through cloud, carries
multiplicative speckle; thick, ridged ice returns more). Every pixel also gets sensor noise.
The models see only these images; the labels come from the fields underneath.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

WATER = np.array([0.06, 0.03, 0.14])  # visible, near infrared, radar
LAND = np.array([0.32, 0.45, 0.50])
CLOUD = 0.85  # cloud top reflectance (optical channels only)
SENSOR_SD = 0.02
SPECKLE_LOOKS = 6


def ice_signature(h: np.ndarray) -> np.ndarray:
    """(..., 3) reflectance/backscatter of full ice cover of thickness h metres."""
    grown = 1 - np.exp(-h / 0.6)
    return np.stack([0.18 + 0.67 * grown, 0.12 + 0.55 * grown, 0.08 + 0.45 * grown], axis=-1)


def clouds(shape: tuple[int, int], rng: np.random.Generator, cover: float) -> np.ndarray:
    """Cloud opacity in [0, 0.75]: smooth blobs over about `cover` of the scene."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), max(shape) / 12, mode="wrap")
    field /= field.std() + 1e-12
    edge = np.quantile(field, 1 - cover) if cover > 0 else np.inf
    return np.clip((field - edge) * 1.5, 0, 0.75)


def render(
    c: np.ndarray,
    h: np.ndarray,
    land: np.ndarray,
    rng: np.random.Generator,
    scale: int = 1,
    cloud_cover: float | None = None,
) -> np.ndarray:
    """(H*scale, W*scale, 3) uint8 image of one day's fields."""
    return observe(scene(c, h, land, rng, scale), rng, cloud_cover)


def scene(c: np.ndarray, h: np.ndarray, land: np.ndarray, rng: np.random.Generator, scale: int = 1) -> np.ndarray:
    """(H*scale, W*scale, 3) float reflectance of the surface itself, floes and leads included."""
    if scale > 1:
        c = ndimage.zoom(c, scale, order=1, mode="nearest", grid_mode=True)
        h = ndimage.zoom(h, scale, order=1, mode="nearest", grid_mode=True)
        land = np.repeat(np.repeat(land, scale, 0), scale, 1)
    # Floes and leads: the cover varies within a cell.
    c = np.clip(c + 0.08 * rng.standard_normal(c.shape) * c * (1 - c) * 4, 0, 1)[..., None]
    image = c * ice_signature(h) + (1 - c) * WATER
    return np.where(land[..., None], LAND, image)


def observe(surface: np.ndarray, rng: np.random.Generator, cloud_cover: float | None = None) -> np.ndarray:
    """The uint8 image a satellite returns of `surface`: clouds over the optical channels, speckle on
    the radar, noise on every pixel."""
    image = surface.copy()
    cover = rng.uniform(0, 0.6) if cloud_cover is None else cloud_cover
    alpha = clouds(image.shape[:2], rng, cover)[..., None]
    image[..., :2] = (1 - alpha) * image[..., :2] + alpha * CLOUD
    image[..., 2] *= rng.gamma(SPECKLE_LOOKS, 1 / SPECKLE_LOOKS, image.shape[:2])
    image += SENSOR_SD * rng.standard_normal(image.shape)
    return to_uint8(image)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Reflectance 0-1 as the 0-255 bytes of an image; a `scene` through this is what a perfect sensor returns
    (the change detector's ceiling sees only these)."""
    return np.clip(np.round(image * 255), 0, 255).astype(np.uint8)
