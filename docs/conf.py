"""Sphinx configuration for the flask-guard docs."""

project = "flask-guard"
author = "The flask-guard team"
copyright = "2026, The flask-guard team"

extensions = ["sphinx.ext.autodoc", "sphinx.ext.intersphinx", "sphinx.ext.viewcode"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
intersphinx_mapping = {}
nitpicky = False
html_theme = "alabaster"
exclude_patterns = ["_build"]
