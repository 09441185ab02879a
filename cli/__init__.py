"""adl package."""
