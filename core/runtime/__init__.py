"""Runtime services every device shares: caching allocator, streams and events, device selection, RNG, memory stats."""
