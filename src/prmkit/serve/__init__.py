"""prmkit.serve."""
