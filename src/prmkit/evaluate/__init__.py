"""prmkit.evaluate."""
