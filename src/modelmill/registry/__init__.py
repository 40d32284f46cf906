"""The private S3 registry: bucket setup, publish and fetch (download, checksum, safe load)."""
