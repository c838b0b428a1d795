"""The base of every config section: unknown keys are errors, and a loaded config never changes."""
from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A config section. `extra="forbid"` turns a typo in the YAML into an error naming the key path.

    Frozen: components built from a config keep seeing the values they were built with; a change makes a new
    config (`app.config.with_changes`) and whoever owns the affected components rebuilds them from it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
