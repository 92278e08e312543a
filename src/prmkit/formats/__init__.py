"""prmkit.formats."""
