"""The web console: static files served at ``/``, a pure GraphQL client of ``/graphql``."""
