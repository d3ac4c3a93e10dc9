"""`faces`: see docs/architecture.md. Not built yet; its issue lands it."""
