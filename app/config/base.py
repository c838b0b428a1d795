"""The base of every config section: unknown keys are errors, values are checked on assignment."""
from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A config section. `extra="forbid"` turns a typo in the YAML into an error naming the key path."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
