import Foundation
import Testing
import TestSupport

/// launch/netns-hosts.sh: pretend hosts made of network namespaces joined by veth pairs.
let namespaceHostsScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("launch/netns-hosts.sh")

/// Why namespace hosts cannot be made on this machine (not root, no `ip`, namespaces refused), or nil when they can.
let namespaceHostsUnavailable: String? = {
    let result = runProcess(URL(fileURLWithPath: "/bin/bash"), arguments: [namespaceHostsScript.path, "check"], timeout: 300)
    guard result.status != 0 else { return nil }
    let reason = (result.stdout + result.stderr).trimmingCharacters(in: .whitespacesAndNewlines)
    return "network namespaces cannot be made here: " + (reason.isEmpty ? "check exited \(result.status)" : reason)
}()

extension EndToEndTests {
    /// Two hosts × two ranks — separate nodes to Open MPI, with their own host names, talking TCP over veths — train to
    /// the same weights as four ranks on this one host. With ranks 0, 1 on one host and 2, 3 on the other, the
    /// hierarchical sum adds (g₀ + g₁) + (g₂ + g₃): the order of the one-host hierarchical run by construction, and of
    /// the one-host flat run as Open MPI pairs four ranks for this buffer (`hierarchicalGradientSumGivesTheFlatRun`), so
    /// all three agree bit for bit. The wrapper's own checks and the all-reduce sweep also pass across the hosts.
    @Test(.enabled(if: mpirunAvailable, "mpirun is not installed"),
          .enabled(if: namespaceHostsUnavailable == nil, Comment(rawValue: namespaceHostsUnavailable ?? "")))
    func twoHostsOfTwoRanksTrainLikeFourRanksOnOneHost() throws {
        let folder = try workspace()
        let state = folder.appendingPathComponent("hosts")
        let script = { (arguments: [String], timeout: Double) in
            runProcess(URL(fileURLWithPath: "/bin/bash"), arguments: [namespaceHostsScript.path] + arguments, timeout: timeout)
        }
        defer {
            let down = script(["down", state.path], 60)
            #expect(down.status == 0, "netns-hosts.sh down: \(down.stderr)")
        }
        let up = script(["up", state.path, "2", "2"], 120)
        try #require(up.status == 0, "netns-hosts.sh up: \(up.stderr)")

        let checks = script(["mpirun", state.path] + mpirunOptions()
            + ["-n", "4", productsDirectory.appendingPathComponent("mpi-check").path], 180)
        #expect(checks.status == 0, "mpi-check across the hosts: \(checks.stderr)")
        #expect(checks.stdout.split(separator: "\n").count == 4, "\(checks.stdout)")

        // The all-reduce sweep across the hosts: the hierarchical path's network stage runs, over up to 16 chunks of
        // 64 KiB (both slot sets in turn), and its sums are exact.
        let sweep = script(["mpirun", state.path] + mpirunOptions() + ["-n", "4", binary.path, "bench", "--allreduce",
                                                                       "--max-bytes", "1048576", "--chunk-bytes", "65536", "--json"], 300)
        #expect(sweep.status == 0, "bench --allreduce across the hosts: \(sweep.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(sweep.stdout.utf8)) as? [String: Any]
        let rows = report?["rows"] as? [[String: Any]] ?? []
        #expect(report?["nodes"] as? Int == 2 && rows.count == 2 * 18, "\(sweep.stdout)")
        #expect(rows.allSatisfy { $0["wrong"] as? Int == 0 && ($0["max_relative_difference"] as? Double ?? 1) <= 1e-6 })

        let config = folder.appendingPathComponent("tiny.yaml").path
        let arguments = { (output: String) in
            ["train", "--config", config, "--output_dir", folder.appendingPathComponent(output).path, "--max_steps", "3",
             "--per_device_train_batch_size", "2"]
        }
        let acrossHosts = script(["mpirun", state.path] + mpirunOptions()
            + ["-n", "4", binary.path] + arguments("two-hosts"), 300)
        try #require(acrossHosts.status == 0, "2 hosts × 2 ranks: \(acrossHosts.stderr)")
        #expect(acrossHosts.stdout.contains("4 ranks on 2 node(s); gradient sum: hierarchical"), "\(acrossHosts.stdout)")
        #expect(acrossHosts.stdout.contains("one copy per node in shared memory (2 ranks"), "\(acrossHosts.stdout)")

        let twoHosts = (losses: try RunOutput.losses(in: folder.appendingPathComponent("two-hosts")),
                        weights: try RunOutput.tensors(in: folder.appendingPathComponent("two-hosts")))
        #expect(twoHosts.losses.keys.sorted() == [1, 2, 3])
        for algorithm in ["flat", "hierarchical"] {
            let output = "one-host-\(algorithm)"
            let result = train(4, Array(arguments(output).dropFirst()) + ["--gradient_allreduce", algorithm])
            try #require(result.status == 0, "1 host × 4 ranks, \(algorithm): \(result.stderr)")
            #expect(result.stdout.contains("4 ranks on 1 node(s); gradient sum: \(algorithm)"), "\(result.stdout)")
            let weights = try RunOutput.tensors(in: folder.appendingPathComponent(output))
            #expect(try RunOutput.losses(in: folder.appendingPathComponent(output)) == twoHosts.losses)
            let differing = weights.keys.filter { weights[$0] != twoHosts.weights[$0] }.sorted()
            #expect(differing.isEmpty, "tensors that differ bit for bit from 1 host × 4 ranks (\(algorithm)): \(differing)")
        }
    }
}
