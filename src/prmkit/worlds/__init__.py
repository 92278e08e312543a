"""prmkit.worlds."""
