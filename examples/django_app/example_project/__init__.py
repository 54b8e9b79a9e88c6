"""The gatekeeper Django example project (see ../README.md)."""
