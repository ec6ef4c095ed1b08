"""Read sources into Arrow record batches. Knows nothing of policies or HTTP."""

from connectors.files import ConnectorError, FileSpec, detect_format, open_file

__all__ = ["ConnectorError", "FileSpec", "detect_format", "open_file"]
