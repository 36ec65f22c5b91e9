"""Developer tools (the GitHub double, the rehearsal): never imported by a runtime command."""
