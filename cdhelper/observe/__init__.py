"""Reading the records back: history (what is live where, the timeline), DORA metrics, the brief."""
