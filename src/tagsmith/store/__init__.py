"""tagsmith.store."""
