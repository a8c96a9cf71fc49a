"""Channel adapters: each turns a provider's traffic into InboundMessage and sends OutboundMessage."""
