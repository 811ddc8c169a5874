"""tagsmith.pipeline."""
