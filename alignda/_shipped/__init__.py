"""The shipped checkpoints and assets (links to the repository folders; copies once installed)."""
