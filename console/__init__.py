"""Staff-facing HTTP API and web pages (the agent console)."""
