"""Cubes: loading, preprocessing and pixel-by-pixel fitting on Dask."""
