"""Hostile input (issue 18): day files built to break the importer, and what SPEC says must happen."""
