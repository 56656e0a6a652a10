"""imgengine: analyse, search and organise photo collections."""

__version__ = "0.1.0"
