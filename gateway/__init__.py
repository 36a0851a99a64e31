"""AED Gateway: postal advance electronic data in, canonical records out."""
