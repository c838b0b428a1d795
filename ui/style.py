"""The window's look: a dark operator theme (low glare in a control room), one accent colour, compact tables."""

STYLE = """
QWidget { background: #202428; color: #dde3e8; font-size: 10pt; }
QMainWindow::separator { background: #2d3338; width: 3px; }
QToolBar { background: #181b1f; border-bottom: 1px solid #2d3338; spacing: 6px; padding: 3px; }
QStatusBar { background: #181b1f; color: #aeb8c1; }
QTabWidget::pane { border: 1px solid #2d3338; top: -1px; }
QTabBar::tab { background: #1b1e22; padding: 6px 16px; border: 1px solid #2d3338; border-bottom: none; }
QTabBar::tab:selected { background: #2a3036; color: #ffffff; border-top: 2px solid #4fc3f7; }
QTableView, QListWidget, QPlainTextEdit { background: #1b1e22; alternate-background-color: #22262b;
    gridline-color: #2d3338; selection-background-color: #2f5b7c; selection-color: #ffffff; border: 1px solid #2d3338; }
QHeaderView::section { background: #262b30; color: #aeb8c1; padding: 4px; border: none;
    border-right: 1px solid #2d3338; }
QPushButton, QToolButton, QComboBox { background: #2d3339; border: 1px solid #3a4249; border-radius: 4px;
    padding: 4px 10px; }
QPushButton:hover, QToolButton:hover { background: #37414a; }
QPushButton:disabled, QToolButton:disabled { color: #6b747c; }
QToolButton:checked { background: #2f5b7c; }
QPushButton#recordButton { color: #ef5350; font-weight: bold; }
QLabel#recLabel { color: #ef5350; font-family: monospace; }
QLabel#clock { font-family: monospace; color: #aeb8c1; }
QLabel#sectionTitle { font-weight: bold; padding: 4px 0; }
QLabel#hint { color: #8a949c; }
QLineEdit, QSpinBox { background: #1b1e22; border: 1px solid #3a4249; border-radius: 3px; padding: 3px; }
QGroupBox { border: 1px solid #2d3338; border-radius: 4px; margin-top: 14px; padding-top: 6px; }
QGroupBox::title { subcontrol-origin: margin; left: 8px; color: #aeb8c1; }
QProgressBar { border: 1px solid #3a4249; border-radius: 3px; text-align: center; background: #1b1e22; }
QProgressBar::chunk { background: #3d6f99; }
"""
