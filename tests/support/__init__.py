"""Helpers shared by tests: fixture builders that write real files (ELF objects, …)."""
