"""Built-in verbs, each registered as a ``lago.plugins.cli`` entry point."""
