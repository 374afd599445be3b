"""ember-conformance: the shared conformance suite that certifies an Ember backend.

Run it as ``ember-conformance --backend NAME`` or ``pytest --ember-backend=NAME``.
Sample inputs for every operator: ``ember_conformance.samples.sample_inputs``.
"""

__version__ = "0.1.0"
