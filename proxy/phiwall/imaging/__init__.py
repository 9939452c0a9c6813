"""Raster-image helpers: safe loading, DICOM rendering and engineered features for the image detectors."""
