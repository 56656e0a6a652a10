"""One exception hierarchy; each message is something a user can act on."""


class ImgEngineError(Exception):
    """Base class. ``str(err)`` is a one-line message fit for the terminal."""

    exit_code = 1


class UsageError(ImgEngineError):
    """Bad arguments or configuration (exit code 2)."""

    exit_code = 2


class ConfigError(UsageError):
    """The YAML config or an IMGENGINE_* variable is invalid."""


class UnsupportedFormatError(ImgEngineError):
    """The file is not an image format we read (detected from its bytes)."""


class DecodeError(ImgEngineError):
    """The file claims to be an image but its data cannot be decoded (truncated, corrupt)."""


class DecompressionBombError(DecodeError):
    """The image declares more pixels than the configured limit."""


class CatalogError(ImgEngineError):
    """The SQLite catalog cannot be opened or written (read-only folder, disk full, corrupt)."""


class ModelUnavailableError(ImgEngineError):
    """ML weights or libraries are missing; the stage is skipped with this message."""


class JournalError(ImgEngineError):
    """A file-changing plan cannot be applied or undone safely."""


class MetadataError(ImgEngineError):
    """Metadata cannot be read or written safely (broken EXIF, a block over its size limit, a writer that
    failed); the file is left as it was."""


class OutputError(ImgEngineError):
    """A report or export file cannot be written (the catalog itself is complete)."""
