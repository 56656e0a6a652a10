"""Built-in plugins: they use exactly the public plugin API a third party would use."""
