"""Layer 3, telemetry on the host: the SQLite store, collection from devices, the HTML report.

Imports tinydrift.core and tinydrift.device (records are decoded there, from link frames).
"""
