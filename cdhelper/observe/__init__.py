"""Reading the records back: history, timeline, DORA metrics, the brief."""
