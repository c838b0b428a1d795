"""The small base every package may import: the user-facing error type and the home folder."""
