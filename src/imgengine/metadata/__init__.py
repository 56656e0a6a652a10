"""Reading and writing photo metadata (EXIF, IPTC, XMP, sidecars): field table, containers, writer backends."""
