"""prmkit.label."""
