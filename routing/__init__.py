"""The routing core: the only place that decides what happens to a message."""
