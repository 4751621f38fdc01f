"""Thin GraphQL layer: types, inputs and resolvers per domain; ``schema.py`` wires them."""
