"""A Hypothesis fuzz of every registered Ember operator against PyTorch, each case run in a worker
subprocess so that a crash or a hang is caught and reported with its reproducer.

``run.run()`` is the API; ``python -m tests.fuzz`` the long run; tests/test_fuzz_ops.py the bounded
one. Modules: case (the data), strategy (drawing cases), worker (running them), pool (the
subprocesses), torch_ops (the torch counterparts and the skip table), judge (the verdicts),
differences (Ember's documented differences and the inputs whose values are unspecified)."""
