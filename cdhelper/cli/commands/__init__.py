"""Command families: each module registers its subcommands (register(sub) -> {name: handler}) and
keeps its imports inside the handlers, so `cdhelper --help` stays fast."""
