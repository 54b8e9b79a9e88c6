"""``gatekeeper watch``: the frame model, the views, the CLI, and a real terminal (tmux)."""
