"""tfncsn's built-in plugins, declared through the same entry-point groups third parties use."""
