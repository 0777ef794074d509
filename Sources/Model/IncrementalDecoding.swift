/// Generation's forward: one sequence at a time, each call continuing where the cache left off, so the prompt is run
/// once (prefill) and every generated token alone. It is the training forward's code path (`runTrunk`) with the
/// attention reading earlier positions from the cache.
extension DecoderModel {
    public func makeKeyValueCache(capacity: Int) throws -> KeyValueCache {
        try KeyValueCache(config: config, capacity: capacity)
    }

    /// Discards the activations of a previous training forward.
    public func logits(continuing tokens: [Int32], cache: KeyValueCache, allPositions: Bool) throws -> [Float] {
        precondition(cache.config == config, "logits(continuing:) got a key/value cache made for another model config")
        guard !tokens.isEmpty else { throw ModelError.invalidKeyValueCache("no tokens to continue the sequence with") }
        guard cache.count + tokens.count <= cache.capacity else {
            throw ModelError.invalidKeyValueCache("\(cache.count) cached positions and \(tokens.count) new tokens "
                                                  + "exceed the capacity of \(cache.capacity) positions")
        }
        let batch = SequenceBatch(count: 1, length: tokens.count, tokens: tokens,
                                  scoreMask: [UInt8](repeating: 0, count: tokens.count))
        try batch.validate(for: config)
        pendingBackward = nil
        runTrunk(batch, keeping: .oneLayer, cache: cache)
        return allPositions ? headLogits(firstRow: 0, rows: tokens.count) : headLogits(firstRow: tokens.count - 1, rows: 1)
    }
}
