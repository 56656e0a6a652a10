"""Built-in plugins: imgengine's own analyzers, commands, writers and layouts, registered through the same
hooks a third-party plugin uses (one module per plugin)."""
