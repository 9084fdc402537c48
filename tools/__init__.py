"""Maintenance tools beside vaeadv (not part of the package): moving data folders in coded shards."""
