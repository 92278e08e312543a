"""prmkit.rl."""
