"""tagsmith.models."""
