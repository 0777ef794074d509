import Foundation
import JSON

/// The `BPE` model of a tokenizer.json: splits one pre-tokenized word into its characters and applies the merges
/// in rank order. Serves both byte-level BPE (the characters are GPT-2's byte stand-ins) and SentencePiece-style BPE
/// (characters missing from the vocabulary fall back to `<0xNN>` byte tokens, else to the unknown token).
final class BPEModel: @unchecked Sendable {
    /// Token text (UTF-8, compared byte for byte) → id.
    let vocabulary: [[UInt8]: Int32]
    /// id → token text; nil where the vocabulary has a gap.
    let tokenText: [String?]
    /// Ids of single-character tokens: a flat table below U+3000 (byte-level stand-ins, Latin, Cyrillic, `▁`…),
    /// a dictionary above.
    private let lowScalarIDs: [Int32]
    private let highScalarIDs: [UInt32: Int32]
    private static let lowScalarLimit: UInt32 = 0x3000
    /// (left id, right id) packed into 64 bits → (rank, merged id).
    private let merges: [UInt64: Merge]
    private let unknownID: Int32?
    private let fuseUnknown: Bool
    /// `<0x00>`…`<0xFF>` ids when `byte_fallback` is on.
    private let byteFallbackIDs: [Int32]?
    /// Llama-3: a word that is itself a vocabulary entry is taken whole, without merging.
    private let ignoreMerges: Bool
    private let cache = WordCache()

    struct Merge {
        let rank: Int32
        let merged: Int32
    }

    init(_ model: JSONField) throws {
        let type = try model.optional("type")?.string() ?? "BPE"
        guard type == "BPE" else { throw model.unsupported("model", type: type) }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let affix = try model.optional(key), !(try affix.string()).isEmpty {
                throw affix.error("BPE \(key) is not supported")
            }
        }
        if let dropout = try model.optional("dropout"), try dropout.double() > 0 {
            throw dropout.error("BPE dropout is not supported (it makes tokenization random)")
        }

        var vocabulary: [[UInt8]: Int32] = [:]
        var lowScalarIDs = [Int32](repeating: -1, count: Int(Self.lowScalarLimit))
        var highScalarIDs: [UInt32: Int32] = [:]
        var tokenText: [String?] = []
        for (token, idField) in try model.required("vocab").members() {
            let id = try idField.tokenID()
            vocabulary[Array(token.utf8)] = id
            let scalars = token.unicodeScalars
            if scalars.count == 1, let scalar = scalars.first {
                if scalar.value < Self.lowScalarLimit { lowScalarIDs[Int(scalar.value)] = id } else { highScalarIDs[scalar.value] = id }
            }
            if tokenText.count <= Int(id) { tokenText.append(contentsOf: repeatElement(nil, count: Int(id) + 1 - tokenText.count)) }
            tokenText[Int(id)] = token
        }
        self.vocabulary = vocabulary
        self.lowScalarIDs = lowScalarIDs
        self.highScalarIDs = highScalarIDs
        self.tokenText = tokenText

        var merges: [UInt64: Merge] = [:]
        let mergesField = try model.required("merges")
        for (rank, entry) in try mergesField.array().enumerated() {
            let pair: [String]
            if case .string(let line) = entry.value {  // "left right"
                pair = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            } else {  // ["left", "right"]
                pair = try entry.array().map { try $0.string() }
            }
            guard pair.count == 2 else { throw entry.error("a merge must be two tokens, found \(entry.value.serialized())") }
            func id(_ token: String) throws -> Int32 {
                guard let id = vocabulary[Array(token.utf8)] else {
                    throw entry.error("merge refers to \"\(token)\", which is not in model.vocab")
                }
                return id
            }
            let key = Self.pairKey(try id(pair[0]), try id(pair[1]))
            let merged = try id(pair[0] + pair[1])
            merges[key] = Merge(rank: Int32(rank), merged: merged)  // a repeated pair keeps its last rank, as in tokenizers
        }
        self.merges = merges

        if let unknown = try model.optional("unk_token") {
            guard let id = vocabulary[Array(try unknown.string().utf8)] else {
                throw unknown.error("unk_token \"\(try unknown.string())\" is not in model.vocab")
            }
            unknownID = id
        } else {
            unknownID = nil
        }
        fuseUnknown = try model.bool("fuse_unk", default: false)
        ignoreMerges = try model.bool("ignore_merges", default: false)
        if try model.bool("byte_fallback", default: false) {
            byteFallbackIDs = try (0..<256).map { byte in
                let name = "<0x" + String(format: "%02X", byte) + ">"
                guard let id = vocabulary[Array(name.utf8)] else {
                    throw model.error("byte_fallback is on but \(name) is not in model.vocab")
                }
                return id
            }
        } else {
            byteFallbackIDs = nil
        }
    }

    private static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// Appends the ids of one word.
    func tokenize(_ word: [Unicode.Scalar], into ids: inout [Int32]) {
        guard !word.isEmpty else { return }
        if let cached = cache.lookup(word) {
            ids.append(contentsOf: cached)
            return
        }
        var wordIDs: [Int32]
        if ignoreMerges, let whole = wholeWordID(word) {
            wordIDs = [whole]
        } else {
            wordIDs = initialSymbols(word)
            applyMerges(&wordIDs)
        }
        cache.store(word, wordIDs)
        ids.append(contentsOf: wordIDs)
    }

    private func wholeWordID(_ word: [Unicode.Scalar]) -> Int32? {
        var utf8: [UInt8] = []
        utf8.reserveCapacity(word.count * 2)
        for scalar in word { utf8.append(contentsOf: scalar.utf8) }
        return vocabulary[utf8]
    }

    /// One id per character; an unknown character becomes its `<0xNN>` byte tokens (byte fallback) or the unknown
    /// token (consecutive ones fused into one when `fuse_unk`), or is dropped when there is neither.
    private func initialSymbols(_ word: [Unicode.Scalar]) -> [Int32] {
        var symbols: [Int32] = []
        symbols.reserveCapacity(word.count)
        var previousWasUnknown = false
        for scalar in word {
            if let id = singleScalarID(scalar) {
                symbols.append(id)
                previousWasUnknown = false
            } else if let byteFallbackIDs {
                for byte in scalar.utf8 { symbols.append(byteFallbackIDs[Int(byte)]) }
                previousWasUnknown = false
            } else if let unknownID {
                if !(fuseUnknown && previousWasUnknown) { symbols.append(unknownID) }
                previousWasUnknown = true
            }
        }
        return symbols
    }

    private func singleScalarID(_ scalar: Unicode.Scalar) -> Int32? {
        guard scalar.value < Self.lowScalarLimit else { return highScalarIDs[scalar.value] }
        let id = lowScalarIDs[Int(scalar.value)]
        return id >= 0 ? id : nil
    }

    /// Repeatedly merges the lowest-ranked adjacent pair, the leftmost first among equals, with a heap over a linked
    /// list of symbols (as `tokenizers` does), so long words without pre-tokenization (SentencePiece) stay fast.
    private func applyMerges(_ symbols: inout [Int32]) {
        guard symbols.count > 1 else { return }
        var next = Array(1...symbols.count)  // symbols.count marks the end
        var previous = Array(-1..<symbols.count - 1)
        var alive = [Bool](repeating: true, count: symbols.count)
        var queue = MergeQueue()
        for position in 0..<symbols.count - 1 {
            if let merge = merges[Self.pairKey(symbols[position], symbols[position + 1])] {
                queue.push(MergeQueue.Entry(rank: merge.rank, position: position, merged: merge.merged))
            }
        }
        while let entry = queue.pop() {
            let left = entry.position
            let right = next[left]
            // Stale entries: the left symbol was merged away, or the pair changed since it was queued.
            guard alive[left], right < symbols.count,
                  let current = merges[Self.pairKey(symbols[left], symbols[right])], current.merged == entry.merged
            else { continue }
            symbols[left] = entry.merged
            alive[right] = false
            next[left] = next[right]
            if next[left] < symbols.count { previous[next[left]] = left }
            if previous[left] >= 0, let merge = merges[Self.pairKey(symbols[previous[left]], symbols[left])] {
                queue.push(MergeQueue.Entry(rank: merge.rank, position: previous[left], merged: merge.merged))
            }
            if next[left] < symbols.count, let merge = merges[Self.pairKey(symbols[left], symbols[next[left]])] {
                queue.push(MergeQueue.Entry(rank: merge.rank, position: left, merged: merge.merged))
            }
        }
        var merged: [Int32] = []
        var position = 0
        while position < symbols.count {
            merged.append(symbols[position])
            position = next[position]
        }
        symbols = merged
    }
}

/// A binary min-heap of candidate merges ordered by rank, then by position (leftmost first).
private struct MergeQueue {
    struct Entry {
        let rank: Int32
        let position: Int
        let merged: Int32

        func precedes(_ other: Entry) -> Bool {
            rank != other.rank ? rank < other.rank : position < other.position
        }
    }

    private var heap: [Entry] = []

    mutating func push(_ entry: Entry) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                guard left < heap.count else { break }
                let right = left + 1
                let smaller = right < heap.count && heap[right].precedes(heap[left]) ? right : left
                guard heap[smaller].precedes(heap[parent]) else { break }
                heap.swapAt(smaller, parent)
                parent = smaller
            }
        }
        return top
    }
}

/// Thread-safe memo of word → ids. Words repeat heavily in text, so most lookups skip the merge loop. Bounded:
/// once full, new words are no longer stored (as `tokenizers`' cache does); very long words are never stored.
private final class WordCache: @unchecked Sendable {
    private static let capacity = 100_000
    private static let maxWordLength = 256
    private var entries: [WordKey: [Int32]] = [:]
    private let lock = NSLock()

    func lookup(_ word: [Unicode.Scalar]) -> [Int32]? {
        guard word.count <= Self.maxWordLength else { return nil }
        lock.lock()
        defer { lock.unlock() }
        return entries[WordKey(scalars: word)]
    }

    func store(_ word: [Unicode.Scalar], _ ids: [Int32]) {
        guard word.count <= Self.maxWordLength else { return }
        lock.lock()
        defer { lock.unlock() }
        if entries.count < Self.capacity { entries[WordKey(scalars: word)] = ids }
    }
}

/// A word as a dictionary key, hashed as one block of bytes (an array of scalars hashes element by element).
private struct WordKey: Hashable {
    let scalars: [Unicode.Scalar]

    func hash(into hasher: inout Hasher) {
        scalars.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}
