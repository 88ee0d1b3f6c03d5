"""Registries: the distribution API client, logins, pushes and pulls, manifest lists, a local registry."""
