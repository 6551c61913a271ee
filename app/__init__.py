"""keyturn: zero-downtime rotation of third-party API keys."""
