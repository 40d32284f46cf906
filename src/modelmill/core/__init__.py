"""What every line uses, and nothing line-specific."""
