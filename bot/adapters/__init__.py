"""Chat adapters: each turns its platform's events into commands and renders replies."""
