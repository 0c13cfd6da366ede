"""The live status board: counts, area tables, the priority list and non-responders of a round."""
