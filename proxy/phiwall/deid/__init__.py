"""De-identification engines: text, DICOM and raster images, shared by the proxy and `phiwall deid`."""
