"""prmkit.search."""
