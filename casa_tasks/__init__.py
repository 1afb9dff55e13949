"""CASA-style tasks of spectuner_nb (spectunerfit, …): thin adapters over the engine."""
