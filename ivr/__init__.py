"""Voice (IVR) call flows: reserved for the Twilio voice channel."""
