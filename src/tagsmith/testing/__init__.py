"""tagsmith.testing."""
