"""The recorded session on disk: its format, the writer, the record loop and video segments.
"""
