"""The PySide6 desktop GUI. Widgets only: it computes nothing and talks to app/ through signals."""
