"""Photo metadata: values as people read them (one camera name), and reading and writing EXIF, IPTC, XMP and
sidecars (field table, containers, writer backends)."""
