"""Where pairs come from: one module per kind of source."""
