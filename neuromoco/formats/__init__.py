"""neuromoco.formats."""
