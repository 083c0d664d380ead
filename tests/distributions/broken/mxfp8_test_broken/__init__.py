"""Plugins that misbehave in every way the host must survive."""
