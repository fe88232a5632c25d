"""The live data path: the source contract (Batch, Health, Source, stream kinds), the clock
model, the SyncBuffer, the one window function and the delivery rules.
"""
