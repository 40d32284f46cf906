"""The model factory: one DVC pipeline per model line, all publishing to one private S3 registry."""
