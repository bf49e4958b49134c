"""Pure logic shared by every layer: names, limits, checksums, ranges, conditions, records.

Nothing in this package performs I/O, so every piece is unit-testable in isolation.
"""
