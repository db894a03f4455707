"""neuromoco.data."""
