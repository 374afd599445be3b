"""The whole plugin contract. Each hook's docstring is its documentation.

A backend plugin is a module (named by an entry point in the ``ember.backends``
group) that implements one or more of these hooks with ``@ember.plugins.hookimpl``.
Hooks receive a ``register`` callback; they run once, when the plugin loads.
Core itself registers the ``meta`` device through these same hooks.
"""

from __future__ import annotations

import pluggy

#: The version of this contract. A plugin declares the version it was written
#: for; core refuses another major version, and accepts a lower minor.
API_VERSION = "1.0"

hookspec = pluggy.HookspecMarker("ember")
hookimpl = pluggy.HookimplMarker("ember")


@hookspec
def ember_register_backends(register) -> None:
    """Register the device types this plugin provides.

    Call ``register(device_type, *, api_version, runtime, kernels, capabilities,
    indexed=True)`` once per device type:

    - ``device_type``: the name users write, e.g. ``"cuda"``; ``Device("cuda:1")``
      then resolves to this backend.
    - ``api_version``: the ``API_VERSION`` string this plugin was written for.
      A different major version is refused with a message naming both.
    - ``runtime``: an object with ``device_count()``, ``is_available()``,
      ``unavailable_reason()`` (a sentence, or None), ``empty(shape, dtype,
      device)``, ``from_numpy(array, device)`` (host to device, a copy),
      ``to_numpy(tensor)`` (device to host, a copy), ``storage_numel(storage)``,
      ``data_ptr(tensor)``, ``synchronize(device)``, and, where memory is host
      memory, ``as_numpy(tensor)`` (a view) and ``share_numpy(array, device)``;
      optionally ``device_name(device_index) -> str`` (for
      ``ember.<type>.get_device_name()``).
      ``ember_cpu.runtime.CpuRuntime`` is a complete example.

      A backend that declares ``Capabilities(managed_memory=True)`` leaves its
      memory policy to core's caching allocator (``ember.runtime.allocator``)
      and adds:

      - ``raw_alloc(nbytes, device_index) -> handle``: a fresh device
        allocation of at least ``nbytes`` (core asks in segments of 2 MiB,
        20 MiB, or a multiple of 2 MiB). Return None when the device is out of
        memory: core then frees its cache and retries before raising
        ``ember.OutOfMemoryError``. Raise for any other failure.
      - ``raw_free(handle, device_index)``: give a raw allocation back.
      - ``mem_get_info(device_index) -> (free_bytes, total_bytes)``
        (optional; quoted by the out-of-memory message and
        ``ember.<type>.mem_get_info()``).

      Its ``empty(shape, dtype, device)`` calls
      ``ember.runtime.allocate(device, nbytes)`` (optionally ``stream=``) and
      keeps the returned ``Allocation`` as the tensor's storage, or as a
      ``.allocation`` attribute of it. Kernels address memory as
      ``(allocation.handle, allocation.offset + tensor offset * itemsize)``:
      blocks are split, so the offset is not zero in general. The block goes
      back to the cache, stream-ordered, when the Allocation is
      garbage-collected; ``Tensor.record_stream`` protects it from reuse while
      another stream still uses it.

      A backend that declares ``Capabilities(streams=True)`` adds (handles
      are whatever the backend likes; core only passes them back):

      - ``stream_create(device_index[, priority]) -> handle`` (a backend with
        stream priorities takes ``priority``, lower is more urgent, as in CUDA;
        core passes it only when it is not 0) and
        ``stream_default(device_index) -> handle`` (the device's default queue);
      - ``stream_synchronize(handle)``, ``stream_query(handle) -> bool``
        (True when all queued work has finished);
      - ``event_create(device_index, enable_timing) -> handle``,
        ``event_record(event, stream)``, ``event_query(event) -> bool``,
        ``event_synchronize(event)``, ``event_elapsed_ms(start, end) -> float``
        and optionally ``event_destroy(event)``; an event may be recorded
        again, and queries answer about its latest record;
      - ``stream_wait_event(stream, event)``: work queued on ``stream`` after
        this call waits for the event's latest record made before this call
        (as ``cudaStreamWaitEvent``); the host does not block;
      - ``synchronize(device)`` waits for every stream of the device.

      Copies between host and device respect streams when the runtime adds
      (optional; see ``ember.runtime.copies``):

      - ``copy_from_host(dst, array, non_blocking)``: queue a copy of the
        C-contiguous numpy ``array`` into the contiguous tensor ``dst`` on the
        current stream of ``dst.device``, keeping ``array`` alive until it ran;
        return once done unless ``non_blocking``;
      - ``copy_to_host(src, out, non_blocking)``: queue a copy of the
        contiguous tensor ``src`` into the C-contiguous numpy array ``out`` on
        the current stream; return once done unless ``non_blocking``.

      Without them, copies go through ``to_numpy``/``from_numpy`` (blocking).

      Kernels launch on ``ember.current_stream(device).handle`` (the default
      stream unless a ``with ember.stream(s):`` block chose another), and
      ``to_numpy`` reads after the current stream's queued work. A backend
      without streams runs work synchronously; core's streams and events then
      work on it with trivial semantics.
    - ``kernels``: a mapping from operator name to kernel. Every prim
      (``ember info --ops``) should have one; any other operator may have one
      to run faster than its decomposition. Unknown names are an error. The
      random prim ``philox_random`` has the kernel contract
      ``kernel(out, seed, offset)`` (see ``ember.ops.random``); without a
      kernel it runs as an exact but slow decomposition over int64 operators.
    - ``capabilities``: an ``ember.plugins.Capabilities`` (dtypes supported,
      whether memory is host memory, streams, managed memory).
    - ``indexed``: False for a device type without indices (cpu, meta).

    Registering a device type twice, or a kernel twice for one (operator,
    device type), is an error.
    """


@hookspec
def ember_register_kernels(register_kernel) -> None:
    """Add kernels to device types registered by any plugin.

    Call ``register_kernel(operator_name, device_type, kernel)``. Runs after
    every plugin's ``ember_register_backends``, so an add-on package can
    accelerate operators of a backend it does not own. The same uniqueness rule
    holds: one kernel per (operator, device type).
    """


@hookspec
def ember_info() -> dict:
    """Return extra facts for ``ember info`` as a mapping of label to text
    (a driver version, a library path). Must be cheap and must not raise."""
