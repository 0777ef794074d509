import Foundation
import MPI
import Testing
import TestSupport

/// The wrapper inside the test process, where Open MPI runs as a singleton job (rank 0 of 1).
/// Serialized: MPI is initialized MPI_THREAD_FUNNELED, so calls must not run concurrently.
/// Nothing here finalizes MPI, because other suites in this process may still use it
/// (finalize is exercised by mpi-check).
@Suite("Communicator as a singleton", .serialized)
struct SingletonTests {
    @Test func worldIsRankZeroOfOneAndInitializedOnce() async throws {
        let concurrentlyObtained = try await withThrowingTaskGroup(of: ObjectIdentifier.self) { group in
            for _ in 0..<8 { group.addTask { ObjectIdentifier(try Communicator.world()) } }
            return try await group.reduce(into: Set<ObjectIdentifier>()) { $0.insert($1) }
        }
        let world = try Communicator.world()
        #expect(world.rank == 0)
        #expect(world.size == 1)
        #expect(concurrentlyObtained == [ObjectIdentifier(world)])
    }

    @Test func allReducesAreIdentityOnOneRank() throws {
        let world = try Communicator.world()
        var floats: [Float] = [1.5, -2.25, 0, 3e7]
        let originalFloats = floats
        try floats.withUnsafeMutableBufferPointer { try world.allReduceSum($0) }
        #expect(floats == originalFloats)
        var doubles: [Double] = [0.1, -1e300, 42]
        let originalDoubles = doubles
        try doubles.withUnsafeMutableBufferPointer { try world.allReduceSum($0) }
        #expect(doubles == originalDoubles)
        var empty: [Float] = []
        try empty.withUnsafeMutableBufferPointer { try world.allReduceSum($0) }
    }

    @Test func nonBlockingAllReduceCompletes() throws {
        let world = try Communicator.world()
        var values: [Float] = (0..<1000).map { Float($0) }
        try values.withUnsafeMutableBufferPointer { buffer in
            let pending = try world.startAllReduceSum(buffer)
            try pending.wait()
            #expect(try pending.isComplete())
        }
        #expect(values == (0..<1000).map { Float($0) })
    }

    @Test func broadcastFromRootZeroKeepsTheData() throws {
        let world = try Communicator.world()
        var bytes: [UInt8] = [9, 8, 7]
        try bytes.withUnsafeMutableBytes { try world.broadcast($0, root: 0) }
        #expect(bytes == [9, 8, 7])
        var data = Array("hello".utf8)
        try world.broadcast(&data, root: 0)
        #expect(data == Array("hello".utf8))
        try world.barrier()
    }

    @Test(arguments: [1, -1, Int(Int32.max) + 1])
    func broadcastFromAnInvalidRootThrows(root: Int) throws {
        let world = try Communicator.world()
        var bytes: [UInt8] = [1, 2, 3]
        let error = try #require(throws: MPIError.self) {
            try bytes.withUnsafeMutableBytes { try world.broadcast($0, root: root) }
        }
        #expect(error.code != 0)
        #expect(error.operation == "MPI_Bcast")
        #expect(!error.message.isEmpty)
        #expect(error.description.contains("MPI_Bcast"))
        #expect(bytes == [1, 2, 3])
    }

    @Test func invalidRootErrorCarriesMPIsText() throws {
        let world = try Communicator.world()
        var data: [UInt8] = [1]
        let error = try #require(throws: MPIError.self) { try world.broadcast(&data, root: 5) }
        #expect(error.message.contains("MPI_ERR_ROOT"))
    }
}

/// Process-level checks: mpi-check as a plain process (singleton) and under mpirun.
/// Serialized because each mpirun job uses every core of the machine.
@Suite("mpi-check processes", .serialized)
struct MPICheckProcessTests {
    let mpiCheck = productsDirectory.appendingPathComponent("mpi-check")

    /// Each rank's "ok" line, in rank order, from mpi-check's output.
    func okLines(ranks: Int) -> [String] {
        (0..<ranks).map { "mpi-check: rank \($0) of \(ranks): ok" }
    }

    @Test func runsAsSingletonWithoutMpirun() throws {
        let result = runProcess(mpiCheck, arguments: [], timeout: 120)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.split(separator: "\n").map(String.init) == okLines(ranks: 1))
    }

    @Test(.enabled(if: mpirunAvailable, "mpirun is not installed"), arguments: [2, 4])
    func everyRankPassesUnderMpirun(ranks: Int) throws {
        let (launcher, arguments) = mpirunCommand(ranks: ranks, executable: mpiCheck, arguments: [])
        let result = runProcess(launcher, arguments: arguments, timeout: 180)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init).sorted()
        #expect(lines == okLines(ranks: ranks), "stdout: \(result.stdout)\nstderr: \(result.stderr)")
    }
}

/// The process helpers other test targets rely on.
@Suite("TestSupport")
struct TestSupportTests {
    @Test func runProcessCapturesOutputAndStatus() {
        let result = runProcess(URL(fileURLWithPath: "/bin/sh"), arguments: ["-c", "echo out; echo err >&2; exit 3"],
                                timeout: 30)
        #expect(result.status == 3)
        #expect(result.stdout == "out\n")
        #expect(result.stderr == "err\n")
    }

    @Test func runProcessKillsTheWholeProcessGroupOnTimeout() {
        let started = Date()
        // The shell's child `sleep` keeps running unless the whole group is killed.
        let result = runProcess(URL(fileURLWithPath: "/bin/sh"), arguments: ["-c", "sleep 60 & wait"], timeout: 1)
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(result.status != 0)
        #expect(result.stderr.contains("timed out"))
    }

    @Test func runProcessReportsAMissingExecutable() {
        let result = runProcess(URL(fileURLWithPath: "/nonexistent/tool"), arguments: [], timeout: 5)
        #expect(result.status == 127)
        #expect(result.stderr.contains("/nonexistent/tool"))
    }

    @Test func launchVariablesAreRemovedButUserSettingsKept() {
        let cleaned = withoutMPILaunchVariables([
            "OMPI_MCA_ess": "singleton", "OMPI_MCA_orte_launch": "1", "PMIX_RANK": "0",
            "OMPI_COMM_WORLD_RANK": "0", "OMPI_MCA_btl": "self,vader", "PATH": "/usr/bin",
        ])
        #expect(cleaned == ["OMPI_MCA_btl": "self,vader", "PATH": "/usr/bin"])
    }

    @Test func mpirunCommandNamesRanksAndExecutable() {
        let executable = URL(fileURLWithPath: "/tmp/program")
        let (_, arguments) = mpirunCommand(ranks: 3, executable: executable, arguments: ["--flag"])
        #expect(Array(arguments.suffix(4)) == ["-n", "3", "/tmp/program", "--flag"])
        #expect(arguments.contains("--oversubscribe"))
        #expect(arguments.contains("--allow-run-as-root") == (getuid() == 0))
    }
}
