"""YAML -> validated spec -> compiled routing table."""
