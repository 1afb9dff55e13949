"""Cubes: loading, preprocessing and pixel-by-pixel fitting on Dask.

* :func:`load_cubes` — spectral windows (FITS/CASA images) in K on one sky grid;
* :func:`preprocess` — the pixel selection of docs/method.md §8 (cached);
* :func:`fit_cube` — resumable pixel-by-pixel fits on Dask → :class:`CubeFitResult`;
* :func:`make_synthetic_cube` — a cube with known, spatially varying parameters.
"""

from .fit import fit_cube
from .load import CubeSet, CubeWindow, load_cubes
from .preprocessing import PreprocessConfig, Preprocessed, preprocess
from .results import CubeFitResult
from .synthetic import SyntheticCube, make_synthetic_cube

__all__ = [
    "CubeFitResult",
    "CubeSet",
    "CubeWindow",
    "PreprocessConfig",
    "Preprocessed",
    "SyntheticCube",
    "fit_cube",
    "load_cubes",
    "make_synthetic_cube",
    "preprocess",
]
