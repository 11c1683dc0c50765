"""An example effl-plugins plugin distribution (the plugin-author tutorial's code)."""
