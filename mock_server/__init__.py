"""The stateful Layers mock: a Connexion app driven by openapi.yaml over a SQLite world."""
