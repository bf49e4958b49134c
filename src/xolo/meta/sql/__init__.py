"""The SQL metadata stores' shared part: schema, row codecs and every transaction, written once.

A dialect (``sqlite.py``, ``postgres.py`` beside this package) supplies only a connection
adapter, its placeholder style and a few type names.
"""
