"""Command families: each module registers its subcommands (register(sub) -> {name: handler}); the
families are named once, in cli/main.py's FAMILIES. Every family is imported to build the parser, so
heavy modules (the domains, PyGithub, jsonschema, yaml, requests) are imported inside the handlers."""
