"""The door app (to come): camera sources, the recognition loop, decisions, the device store,
the fallback, the customtkinter screens and a local status/metrics endpoint."""
