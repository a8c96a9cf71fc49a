"""Phone calls (IVR): the call flow from config, a pure engine for it, and TwiML rendering."""
