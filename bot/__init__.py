"""The affbot runtime: configuration, composition, adapters, the tracking server and the CLI."""
