"""The ``xolo`` command."""
