import Foundation
import Testing
import TestSupport

/// launch/slurm-cluster.sh: a one-node Slurm cluster under a temporary folder (own munged, slurmctld, slurmd).
let slurmClusterScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("launch/slurm-cluster.sh")

/// The project's own batch script, submitted as users submit it.
let slurmBatchScript = slurmClusterScript.deletingLastPathComponent().appendingPathComponent("slurm.sbatch")

/// Why a local Slurm cluster cannot run here (not root, packages missing and not installable, no PMIx), or nil when it
/// can. Missing packages are installed first (launch/install-slurm.sh), as launch/install-mpi.sh does for Open MPI.
let slurmClusterUnavailable: String? = {
    let bash = URL(fileURLWithPath: "/bin/bash")
    func check() -> ProcessResult { runProcess(bash, arguments: [slurmClusterScript.path, "check"], timeout: 60) }
    var result = check()
    if result.status != 0, geteuid() == 0 {
        let install = runProcess(bash, arguments: [slurmClusterScript.deletingLastPathComponent()
            .appendingPathComponent("install-slurm.sh").path], timeout: 600)
        result = install.status == 0 ? check() : install
    }
    guard result.status != 0 else { return nil }
    let reason = (result.stdout + result.stderr).trimmingCharacters(in: .whitespacesAndNewlines)
    return "no local Slurm cluster here: " + (reason.isEmpty ? "check exited \(result.status)" : reason)
}()

/// A running local cluster; `down` stops its daemons and deletes its folder.
struct LocalSlurmCluster {
    let state: URL

    static func up(in folder: URL) throws -> LocalSlurmCluster {
        let cluster = LocalSlurmCluster(state: folder.appendingPathComponent("slurm"))
        let up = cluster.script(["up", cluster.state.path], timeout: 120)
        guard up.status == 0 else {
            cluster.down()
            throw SlurmTestFailure("slurm-cluster.sh up: \(up.stderr)")
        }
        return cluster
    }

    private func script(_ arguments: [String], timeout: Double) -> ProcessResult {
        runProcess(URL(fileURLWithPath: "/bin/bash"), arguments: [slurmClusterScript.path] + arguments, timeout: timeout)
    }

    /// A Slurm command (`sbatch`, `scontrol`, …) against this cluster, from `directory`.
    func run(_ command: [String], environment extra: [String: String] = [:], timeout: Double = 120) -> ProcessResult {
        var environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        environment["SLURM_CONF"] = state.appendingPathComponent("slurm.conf").path
        return runProcess(URL(fileURLWithPath: "/usr/bin/env"), arguments: command, environment: environment,
                          timeout: timeout)
    }

    /// `scontrol show job`'s `Key=Value` fields of a job (finished jobs stay listed: MinJobAge).
    func job(_ id: String) -> [String: String] {
        let shown = run(["scontrol", "show", "job", id]).stdout
        return Dictionary(shown.split(whereSeparator: \.isWhitespace).compactMap { field -> (String, String)? in
            guard let equals = field.firstIndex(of: "=") else { return nil }
            return (String(field[..<equals]), String(field[field.index(after: equals)...]))
        }, uniquingKeysWith: { first, _ in first })
    }

    func down() {
        let down = script(["down", state.path], timeout: 120)
        #expect(down.status == 0, "slurm-cluster.sh down: \(down.stderr)")
    }
}

struct SlurmTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` every 0.25 s for at most `seconds`; false if it never held.
func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(250_000)
    }
    return condition()
}

extension EndToEndTests {
    /// `sbatch launch/slurm.sbatch CONFIG OUTPUT_DIR …` trains on 2 tasks with either launcher (`srun --mpi=pmix`, and
    /// Open MPI's mpirun reading the allocation), the job's output file holds the log, the run folder the model, and
    /// both launchers give the same weights.
    @Test(.enabled(if: slurmClusterUnavailable == nil, Comment(rawValue: slurmClusterUnavailable ?? "")))
    func slurmBatchScriptTrainsWithSrunAndMpirun() throws {
        let folder = try workspace()
        let cluster = try LocalSlurmCluster.up(in: folder)
        defer { cluster.down() }
        let config = folder.appendingPathComponent("tiny.yaml").path
        var weights: [String: [String: [Float]]] = [:]
        for launcher in ["srun", "mpirun"] {
            let output = folder.appendingPathComponent("run-\(launcher)")
            let log = folder.appendingPathComponent("job-\(launcher).out")
            let job = cluster.run(["sbatch", "--wait", "--ntasks=2", "--cpus-per-task=1",
                                   "--output=\(log.path)", slurmBatchScript.path, config, output.path,
                                   "--max_steps", "3", "--per_device_train_batch_size", "2"],
                                  environment: ["DPO_DIST_BIN": binary.path, "DPO_LAUNCHER": launcher], timeout: 300)
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            try #require(job.status == 0, "sbatch with \(launcher): \(job.stderr)\n\(text)")
            #expect(text.contains("slurm.sbatch: 2 ranks on 1 node(s)"), "\(text)")
            #expect(text.contains("saved the final model to \(output.path)"), "\(text)")
            weights[launcher] = try RunOutput.tensors(in: output)
        }
        #expect(weights["srun"] == weights["mpirun"], "srun and mpirun runs of the same job differ")
    }

    /// Preemption through Slurm: `scancel --batch --signal=TERM` on a running job makes the batch script pass the stop
    /// to every rank, the trainer checkpoints at the next step boundary, the script requeues the job, and the requeued
    /// job resumes by itself and ends COMPLETED with the same weights, bit for bit, as an uninterrupted job. The output
    /// file shows training progress while the job runs (the signal is sent only once it does).
    @Test(.enabled(if: slurmClusterUnavailable == nil, Comment(rawValue: slurmClusterUnavailable ?? "")))
    func preemptedSlurmJobRequeuesAndEndsWithTheUninterruptedWeights() throws {
        let folder = try workspace()
        let cluster = try LocalSlurmCluster.up(in: folder)
        defer { cluster.down() }
        let environment = ["DPO_DIST_BIN": binary.path]
        func submit(_ output: String, wait: Bool) -> ProcessResult {
            cluster.run(["sbatch", "--parsable", "--ntasks=2", "--cpus-per-task=1",
                         "--output=\(folder.appendingPathComponent("\(output).out").path)"] + (wait ? ["--wait"] : [])
                        + [slurmBatchScript.path, folder.appendingPathComponent("tiny.yaml").path,
                           folder.appendingPathComponent(output).path, "--max_steps", "400",
                           "--per_device_train_batch_size", "2"], environment: environment, timeout: 300)
        }
        let submitted = submit("preempted", wait: false)
        try #require(submitted.status == 0, "sbatch: \(submitted.stderr)")
        let id = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let log = folder.appendingPathComponent("preempted.out")
        func logText() -> String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
        try #require(waitUntil(seconds: 120) {
            logText().contains("step 1/400 | loss") || cluster.job(id)["JobState"] != "RUNNING" && cluster.job(id)["JobState"] != "PENDING"
        }, "the job's output shows no training while it runs: \(logText())")
        try #require(logText().contains("step 1/400 | loss"),
                     "no training line in the job's output while it runs: \(logText())")
        #expect(cluster.job(id)["JobState"] == "RUNNING", "\(cluster.job(id))")
        let cancel = cluster.run(["scancel", "--batch", "--signal=TERM", id])
        try #require(cancel.status == 0, "scancel: \(cancel.stderr)")
        let finished = waitUntil(seconds: 240) { ["COMPLETED", "FAILED", "CANCELLED"].contains(cluster.job(id)["JobState"]) }
        let state = cluster.job(id)
        try #require(finished && state["JobState"] == "COMPLETED", "job \(id): \(state)\n\(logText())")
        #expect(state["Restarts"] == "1", "\(state)")
        let text = logText()
        #expect(text.contains("stopped by SIGUSR1 on 2 ranks after step"), "\(text)")
        #expect(text.contains("requeueing job \(id) to resume it"), "\(text)")
        #expect(text.contains("resumed from checkpoint-"), "\(text)")

        let straight = submit("straight", wait: true)
        try #require(straight.status == 0, "uninterrupted sbatch: \(straight.stderr)")
        let preempted = try RunOutput.tensors(in: folder.appendingPathComponent("preempted"))
        let uninterrupted = try RunOutput.tensors(in: folder.appendingPathComponent("straight"))
        let differing = uninterrupted.keys.filter { preempted[$0] != uninterrupted[$0] }.sorted()
        #expect(!uninterrupted.isEmpty && differing.isEmpty, "tensors that differ from the uninterrupted job: \(differing)")
    }
}
