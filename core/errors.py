"""One error type for problems the user can fix: bad input, missing files, wrong devices.

The message names what was wrong (the file, the device, the value) and what to do. The CLI
prints it without a traceback; the GUI shows it in the window.
"""


class C3tError(Exception):
    """An error the user can fix; its message says what was wrong and what to do."""
    pass
