"""Promotion: the ledger of deployment records, the gate, freezes, flags, environments as code."""
