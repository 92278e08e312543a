"""prmkit.train."""
