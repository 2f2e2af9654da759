"""berthd: a Linux container engine serving the Docker Engine API v1.45."""

__version__ = "0.1.0"
API_VERSION = "1.45"
MIN_API_VERSION = "1.24"
