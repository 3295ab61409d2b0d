"""Jinja templates, installed as the package ``ldn_safety.templates``."""
