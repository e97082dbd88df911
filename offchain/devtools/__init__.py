"""Development tools that ship with the package but are not part of the clearing system (mutation testing)."""
