"""The `clinic-router` command: `main` parses the arguments, one module per command group."""
