"""Features (features stage): as-of spine, lookups and histories, stateless steps, the leakage guard."""
