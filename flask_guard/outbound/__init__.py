"""Outgoing HTTP calls: the robust requests session, its adapter and settings, urllib3
retries, connection pools that keep a total deadline, and the watchdog that enforces it."""
