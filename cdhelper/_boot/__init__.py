"""Standard library only: what runs before cdhelper's dependencies are installed and verified."""
