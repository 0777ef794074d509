import MPIShim

/// The collectives of sharded (ZeRO) training: reduce-scatter the gradients into the rank that owns each part,
/// all-gather the updated parameters, and point-to-point transfers for gathering optimizer shards into a checkpoint.
extension Communicator {
    /// Starts an in-place float sum reduce-scatter (MPI_Ireduce_scatter) of `buffer`, which every rank splits in rank
    /// order into parts of `counts` elements (one count per rank, summing to `buffer.count`): rank r's part, summed
    /// over all ranks, lands at the START of rank r's `buffer`; the rest of it is left undefined. The buffer rules of
    /// `startAllReduceSum` apply. At most `maximumCountPerCall` elements in all.
    public func startReduceScatterSum(_ buffer: UnsafeMutableBufferPointer<Float>, counts: [Int]) throws -> PendingCollective {
        let operation = "MPI_Ireduce_scatter(float, sum)"
        guard counts.count == size, counts.allSatisfy({ $0 >= 0 }), counts.reduce(0, +) == buffer.count else {
            throw MPIError(code: DPO_MPI_ERR_OTHER, message: "counts \(counts) do not split \(buffer.count) elements "
                + "over \(size) ranks", operation: operation)
        }
        var request: OpaquePointer?
        let sizes = counts.map(UInt.init)
        try perform(operation) { dpo_mpi_ireduce_scatter_sum_float(buffer.baseAddress, sizes, &request) }
        return PendingCollective(request: request, operation: "MPI_Ireduce_scatter")
    }

    /// In place: rank r holds `ranges[r]` of `buffer` (one range per rank; they may be empty); afterwards every rank
    /// holds all of them (MPI_Allgatherv, or one broadcast per rank for parts beyond `maximumCountPerCall`).
    public func allGather(_ buffer: UnsafeMutableBufferPointer<Float>, ranges: [Range<Int>]) throws {
        let operation = "MPI_Allgatherv(float)"
        guard ranges.count == size, ranges.allSatisfy({ $0.lowerBound >= 0 && $0.upperBound <= buffer.count }) else {
            throw MPIError(code: DPO_MPI_ERR_OTHER, message: "ranges \(ranges) are not one part of \(buffer.count) "
                + "elements per rank of \(size)", operation: operation)
        }
        guard let base = buffer.baseAddress else { return }
        let counts = ranges.map { UInt($0.count) }, offsets = ranges.map { UInt($0.lowerBound) }
        try perform(operation) { dpo_mpi_allgatherv_float(base, counts, offsets) }
    }

    /// Sends `buffer` to rank `destination`, which must `receive` as many floats from this rank (MPI_Send, tag 0).
    public func send(_ buffer: UnsafeBufferPointer<Float>, to destination: Int) throws {
        let rank = try Self.rankArgument(destination, operation: "MPI_Send")
        try perform("MPI_Send(float)") { dpo_mpi_send_float(buffer.baseAddress, buffer.count, rank) }
    }

    /// Receives `buffer.count` floats that rank `source` sends (MPI_Recv, tag 0).
    public func receive(into buffer: UnsafeMutableBufferPointer<Float>, from source: Int) throws {
        let rank = try Self.rankArgument(source, operation: "MPI_Recv")
        try perform("MPI_Recv(float)") { dpo_mpi_recv_float(buffer.baseAddress, buffer.count, rank) }
    }
}
