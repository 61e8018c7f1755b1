"""The desktop window (PySide6): widgets and Qt models over qrscope.core."""
