"""The PySide6 desktop GUI: widgets, Qt models and views over the plain state and events of app/."""
