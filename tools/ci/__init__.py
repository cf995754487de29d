"""Tools that check the repository's CI configuration itself."""
