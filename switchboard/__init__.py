"""Switchboard: omnichannel contact center and chatbot (composition root)."""

__version__ = "0.1.0"
