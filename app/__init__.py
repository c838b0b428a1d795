"""Wiring of skelwatch: configuration, the pipeline runner, the command line, logging and events."""
