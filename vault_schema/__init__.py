"""vault_schema."""
