"""The desktop app (PySide6 + pyqtgraph): the main window and one module per panel."""
