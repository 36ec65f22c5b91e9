"""Building a release: the tag, the release assets and their digests, the registry tags."""
