"""The layer classes of ember.nn, one file per kind."""
