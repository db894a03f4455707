"""neuromoco.train."""
