"""tagsmith.metrics."""
