"""The versioned prompt files of the LLM pair sources (package data)."""
