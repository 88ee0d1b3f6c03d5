"""Images: Dockerfile checks, pinned bases, staged contexts, the builders, and the actions that build images."""
