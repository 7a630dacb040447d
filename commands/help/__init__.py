"""/help: the commands a caller may use, generated from the registry."""
