"""Settings of ``ember.compile`` (``ember.compiler.config``), read on every call."""

#: Graphs kept per compiled function (one per set of guards); past it, calls matching none run
#: eagerly with a warning (PyTorch's ``torch._dynamo.config.cache_size_limit``, 8 there too).
cache_size_limit = 8

#: Traces of one set of guards that may each give a different graph before Ember gives up and runs
#: those calls eagerly. A graph is installed once two consecutive traces agree.
max_traces_to_settle = 4
