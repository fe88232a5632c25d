"""Live sources: hardware, simulated and replayed, stamping every sample."""
