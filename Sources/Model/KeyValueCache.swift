/// The keys and values every layer computed for the positions of one sequence so far, so that generation runs each
/// new token alone through the model (`CausalLanguageModel.logits(continuing:cache:allPositions:)`) instead of the
/// whole sequence again. Made by `makeKeyValueCache(capacity:)` for one model; `reset()` empties it for the next prompt.
///
/// Layout per layer: [capacity, 2·keyValueHeads·headSize], each row the k|v part of that position's qkv row (keys
/// rotated for rotary families), so storing a position is one contiguous copy.
public final class KeyValueCache {
    public let config: ModelConfig
    /// Positions the cache can hold.
    public let capacity: Int
    /// Positions it holds: the next token goes to position `count`.
    public internal(set) var count = 0

    private let storage: UnsafeMutableBufferPointer<Float>

    /// Throws `ModelError.invalidKeyValueCache` when `capacity` is not positive or exceeds `config.contextLength`.
    init(config: ModelConfig, capacity: Int) throws {
        guard capacity > 0 else { throw ModelError.invalidKeyValueCache("capacity must be positive (got \(capacity))") }
        guard capacity <= config.contextLength else {
            throw ModelError.invalidKeyValueCache("capacity \(capacity) exceeds the model's \(config.contextLength) positions")
        }
        self.config = config
        self.capacity = capacity
        storage = allocateAlignedFloats(config.layers * capacity * 2 * config.keyValueHeads * config.headSize)
    }

    deinit { deallocateAlignedFloats(storage) }

    /// Forgets every position (the memory is kept).
    public func reset() { count = 0 }

    /// Floats per cached position of one layer: its keys, then its values.
    var rowWidth: Int { 2 * config.keyValueHeads * config.headSize }

    /// Keys of `layer` at position 0; position t is `rowWidth · t` further, and its values `valueOffset` after its keys.
    func keys(layer: Int) -> UnsafeMutablePointer<Float> { storage.baseAddress! + layer * capacity * rowWidth }

    /// Where a position's values start inside its row.
    var valueOffset: Int { config.keyValueHeads * config.headSize }

    /// Copies the k|v parts of `rows` qkv rows [rows, qkvWidth] into `layer` at positions count ..< count + rows
    /// (`count` itself moves on once every layer has stored them).
    func store(layer: Int, qkv: UnsafePointer<Float>, rows: Int) {
        let keysStart = config.heads * config.headSize
        for r in 0 ..< rows {
            (keys(layer: layer) + (count + r) * rowWidth).update(from: qkv + r * config.qkvWidth + keysStart, count: rowWidth)
        }
    }
}
