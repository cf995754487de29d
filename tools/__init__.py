"""Tools that prove the gosvc library; users of `components` never import them."""
