"""Waste station: a scale under a bin, drop detection and the category of each drop."""
