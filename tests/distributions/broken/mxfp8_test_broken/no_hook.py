"""A plugin module that implements no hook."""

VALUE = 1
