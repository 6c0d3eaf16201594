"""The HTTP edge: the app's middleware, the fast revoke edge, Connexion's handlers and security, error rendering."""
