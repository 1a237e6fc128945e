"""Reads of the console domain, one module per topic. Views import the module they need
(`from gallery.selectors import listing`); nothing here writes."""
