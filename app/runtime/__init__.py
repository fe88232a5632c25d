"""The headless runtime the CLI and the GUI share: the live pipeline, retraining, the demo's model build."""
