"""Hosted sandboxes: many isolated worlds in one deployment, each reached with its own admin token."""
