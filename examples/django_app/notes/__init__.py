"""The notes app: one model, a slow migration to deploy, and the views that use it."""
