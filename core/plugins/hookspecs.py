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
    indexed=True, array_kernels=None, array_handle=None)`` once per device type:

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
      ``ember.<type>.get_device_name()``), ``empty_cache()`` (release a
      cache the backend's own library keeps, for ``ember.<type>.empty_cache()``)
      and ``module_attributes`` (a mapping of extra ``ember.<type>`` names),
      ``supports_native_bf16(device_index) -> bool`` (for
      ``ember.<type>.is_bf16_supported(including_emulation=False)``) and
      ``runs_on_host(device_index) -> bool`` (True where a device whose memory
      is not host memory by API still computes on the host CPU, e.g. a CPU
      build of the vendor library: ``ember.accelerator`` then passes it over;
      without it, a DLPack device of kDLCPU says the same).
      ``ember_cpu.runtime.CpuRuntime`` is a complete example.

      An accelerator with page-locked host memory (``Tensor.pin_memory()``,
      ``DataLoader(pin_memory=True)``) adds ``host_alloc_pinned(nbytes)``: a numpy
      uint8 array of ``nbytes`` over its own pinned block, released when the array
      and its views are garbage-collected; and ``is_pinned_host(ptr, nbytes) ->
      bool``: whether that host range lies in such a block (``Tensor.is_pinned()``).
      Without them ``pin_memory()`` raises on that accelerator.

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
      whether memory is host memory, streams, managed memory, and the
      lower-precision dtypes ``ember.autocast`` may use with the PyTorch
      operator list the backend follows: ``autocast_dtypes``, default first,
      and ``autocast_lists``, "cpu" or "cuda"; none declared: no autocast).
    - ``indexed``: False for a device type without indices (cpu, meta).
    - ``array_kernels`` and ``array_handle`` (optional, for speed): where a
      tensor's data is an array object that a library function computes on
      (cpu: numpy), ``array_handle(tensor)`` returns that array (cached in
      ``tensor._h``), and ``array_kernels`` maps an operator name to
      ``(function, dtypes)``: for those dtypes, the operator's kernel on
      operands of one dtype and shape is ``function(x, y)`` on their arrays
      (``function(x, y, x)`` for an in-place operator, ``function(x)`` for a
      full reduction such as ``sum``), returning the result's array. The
      dispatcher's native fast path (``ember.dispatch.fast``) then calls it
      with no Python frame between, for the calls core's own rules would
      hand straight to the kernel. ``ember_cpu.kernels.ARRAY_KERNELS`` is an
      example. The claim is the backend's: the conformance suite runs with
      kernel checks on, which turn the fast path off, and Ember's tests compare
      the two paths.

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
def ember_register_comm_backends(register) -> None:
    """Register communication backends for ``ember.distributed``.

    Call ``register(name, factory, *, api_version, devices=None)`` once per backend:

    - ``name``: what users pass to ``init_process_group(backend=...)``, e.g. ``"mpi"`` or
      ``"nccl"``. Registering a name twice is an error.
    - ``devices``: the device types whose tensors the backend moves (``("cuda",)`` for NCCL), or
      None for every device type (the MPI backend stages other devices through host memory).
      ``init_process_group(backend=None, device_id=d)`` picks the first backend that names
      ``d``'s device type; without ``device_id`` (or with none naming it) it picks ``"mpi"``.
    - ``factory(rank, world_size, timeout, init_method)``: builds the default process group of
      this process (``rank``/``world_size`` already resolved from arguments or the environment,
      -1 when unknown; ``timeout`` a ``datetime.timedelta``) and returns it. It may raise
      ``ember.errors.DistributedError`` when the job cannot be joined (mpi4py missing, the
      process was not started by ``mpiexec``).

    The process-group object returned (and every group its ``new_group`` makes) implements, with
    ranks local to the group and tensors contiguous and of the group's device types:

    - ``rank()``, ``size()``, ``name()`` (the backend name), ``new_group(ranks, timeout)`` (a
      group of those local ranks, or None on a rank outside it; every rank of the parent calls
      it), ``abort(reason)`` (give up: later calls raise) and ``shutdown()`` (release it);
    - the collectives, each taking a last argument ``async_op`` and returning a Work (below),
      writing outputs in place as PyTorch does: ``allreduce(t, op)``, ``broadcast(t, root)``,
      ``reduce(t, root, op)``, ``allgather(out_list, t)``, ``allgather_into_tensor(out, t)``,
      ``reduce_scatter_tensor(out, t, op)``, ``gather(out_list_or_None, t, root)``,
      ``scatter(t, in_list_or_None, root)``,
      ``alltoall_single(out, t, out_splits, in_splits)`` (splits in rows of dim 0; None: equal),
      ``barrier(async_op, timeout=None)`` (seconds, overriding the group's for this call);
      ``op`` is an ``ember.distributed.ReduceOp`` (SUM, AVG, PRODUCT, MIN, MAX, BAND, BOR,
      BXOR). With ``async_op=False`` the caller waits on the Work at once, so the backend may
      run the operation in the calling thread and return a completed Work; with True it must
      not block on the peers. Operations start in the order they are called on every rank;
    - point to point, returning a Work at once: ``send(t, dst, tag)``,
      ``recv(t, src_or_None, tag)`` (None: any source; the Work's ``source_rank()`` says who);
    - a Work has ``wait(timeout=None) -> True``, ``is_completed()``, ``is_success()``,
      ``exception()``, ``source_rank()`` (after a recv) and ``result()``. ``wait`` raises
      ``ember.errors.DistributedTimeoutError`` naming the ranks that did not take part when the
      group's timeout passes, and ``ember.errors.DistributedError`` when a peer failed: a dead or
      hung rank must never hang the others forever.

    ``ember.distributed`` checks arguments (shapes, dtypes, devices, ranks) before calling the
    group, so a backend only moves and reduces data. Core registers its MPI backend through this
    hook (``ember.distributed.mpi``).
    """


@hookspec
def ember_register_graph_lowerings(register) -> None:
    """Register ways to run the graphs ``ember.compile`` traces on a device type.

    Call ``register(device_type, name, lower)`` once per lowering:

    - ``name``: what ``ember.compile(backend=...)`` names it by (e.g. ``"jit"``, ``"cudagraphs"``).
      ``backend=None`` (or ``"inductor"``) picks the device type's first registered lowering
      (``"cudagraphs"`` is picked that way only with ``mode="reduce-overhead"`` or when it is the
      only one). Core's ``"eager"`` and ``"print"`` exist for every device type; registering a name
      twice for one device type is an error.
    - ``lower(graph, example_inputs) -> callable or None``: ``graph`` is an ``ember.compiler.Graph``
      (``placeholders``: the inputs then the externals it reads, such as parameters; ``nodes``:
      operator calls in order, each with ``op``, ``args`` and ``outs``; ``outputs``;
      ``needs_autograd``; ``replay``: the graph as a Python function that calls the operators
      eagerly). ``example_inputs`` are the tensors of the call being compiled, one per placeholder.
      The callable is called with one tensor per placeholder (same shapes, strides, dtypes and
      devices: guards ensure it) and returns a tuple with one tensor per ``graph.outputs``, after
      applying every in-place write the graph makes to its placeholders (a train step's replay must
      update the real parameters). Return None to decline a graph (it is then replayed eagerly); an
      exception while lowering makes the call warn and replay eagerly.

    A device type without lowerings replays graphs eagerly.
    """


@hookspec
def ember_info() -> dict:
    """Return extra facts for ``ember info`` as a mapping of label to text
    (a driver version, a library path). Must be cheap and must not raise."""
