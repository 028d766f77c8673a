"""Offline pages: inline Vega charts, the batch report page, headless-browser rendering."""
