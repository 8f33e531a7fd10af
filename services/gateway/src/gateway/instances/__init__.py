"""The instance API: commands and queries over the bus, its event stream, and the cache."""
