"""The command line: inputs read once (edge), commands, exit codes, summaries."""
