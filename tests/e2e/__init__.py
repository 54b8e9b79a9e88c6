"""End-to-end deploys of the example apps under their real servers (issue 4)."""
