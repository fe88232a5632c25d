"""Shared core: data windows, models, losses, clocks and the simulator."""
