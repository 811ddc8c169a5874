"""tagsmith.features."""
