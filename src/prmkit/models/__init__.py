"""prmkit.models."""
