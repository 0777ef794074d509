// Helpers shared by test targets: locating the built executables, running a child process with a
// timeout that never hangs, and building mpirun command lines that work on this kind of machine.
// The mpirun rules here are the same as in launch/mpirun-options.sh; keep the two in sync.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The folder holding the built products (`mpi-check`, `dpo-dist`) of the running test build.
/// Linux: the test runner is `.build/<config>/dpo-distPackageTests.xctest`, an executable in that folder.
/// macOS: it is a bundle `.build/<config>/dpo-distPackageTests.xctest` loaded by a runner elsewhere.
public let productsDirectory: URL = {
    if let testBundle = Bundle.allBundles.first(where: { $0.bundleURL.pathExtension == "xctest" }),
       testBundle.bundleURL.hasDirectoryPath {
        return testBundle.bundleURL.deletingLastPathComponent()
    }
    let executable = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
    return executable.resolvingSymlinksInPath().deletingLastPathComponent()
}()

/// Exit status and captured output of a finished child process.
/// `status` is the exit code, or 128 + signal number if the process was killed by a signal
/// (as shells report it). On timeout `stderr` ends with a line saying so.
public typealias ProcessResult = (status: Int32, stdout: String, stderr: String)

/// Runs `executable` with `arguments` and waits at most `timeout` seconds. The child gets its own process
/// group, and on timeout the whole group (e.g. mpirun and its ranks) gets SIGTERM, then SIGKILL two
/// seconds later, so a hung child can never hang the test. Output goes through temporary files
/// (no pipe can fill up). The environment (inherited when nil) is stripped of the variables an in-process
/// MPI singleton exports (see `withoutMPILaunchVariables`), which would otherwise make a child mpirun fail.
public func runProcess(_ executable: URL, arguments: [String], environment: [String: String]? = nil,
                       timeout: TimeInterval) -> ProcessResult {
    let outputFolder = FileManager.default.temporaryDirectory
        .appendingPathComponent("runProcess-\(UUID().uuidString)", isDirectory: true)
    do {
        try FileManager.default.createDirectory(at: outputFolder, withIntermediateDirectories: true)
    } catch {
        return (status: 127, stdout: "", stderr: "runProcess: cannot create \(outputFolder.path): \(error)")
    }
    defer { try? FileManager.default.removeItem(at: outputFolder) }
    let stdoutURL = outputFolder.appendingPathComponent("stdout")
    let stderrURL = outputFolder.appendingPathComponent("stderr")

    let childEnvironment = withoutMPILaunchVariables(environment ?? ProcessInfo.processInfo.environment)
    let spawned = spawnInOwnProcessGroup(executable.path, arguments: arguments,
                                         environment: childEnvironment.map { "\($0.key)=\($0.value)" },
                                         stdoutPath: stdoutURL.path, stderrPath: stderrURL.path)
    let pid: pid_t
    switch spawned {
    case .success(let spawnedPID): pid = spawnedPID
    case .failure(let message): return (status: 127, stdout: "", stderr: message)
    }

    var (status, timedOut) = waitForExit(pid, timeout: timeout)
    if timedOut {
        kill(-pid, SIGTERM)
        let (afterTerm, stillRunning) = waitForExit(pid, timeout: 2)
        if stillRunning {
            kill(-pid, SIGKILL)
            status = waitForExit(pid, timeout: .infinity).status
        } else {
            status = afterTerm
        }
    }
    // Whatever the leader left behind in its group (e.g. ranks of a crashed mpirun) goes too.
    kill(-pid, SIGKILL)

    let stdout = (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? ""
    var stderr = (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? ""
    if timedOut {
        stderr += "\nrunProcess: \(executable.lastPathComponent) timed out after \(timeout) s and was killed\n"
    }
    return (status: status, stdout: stdout, stderr: stderr)
}

/// Result of starting a child: its pid, or a message naming what failed.
private enum SpawnResult {
    case success(pid_t)
    case failure(String)
}

/// posix_spawn with stdin from /dev/null, stdout/stderr to the given files, and POSIX_SPAWN_SETPGROUP
/// (Foundation's Process cannot put the child in its own process group).
private func spawnInOwnProcessGroup(_ path: String, arguments: [String], environment: [String],
                                    stdoutPath: String, stderrPath: String) -> SpawnResult {
    #if canImport(Darwin)
    var actions: posix_spawn_file_actions_t? = nil
    var attributes: posix_spawnattr_t? = nil
    #else
    var actions = posix_spawn_file_actions_t()
    var attributes = posix_spawnattr_t()
    #endif
    posix_spawn_file_actions_init(&actions)
    posix_spawnattr_init(&attributes)
    defer {
        posix_spawn_file_actions_destroy(&actions)
        posix_spawnattr_destroy(&attributes)
    }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
    posix_spawnattr_setpgroup(&attributes, 0)

    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    let envp = environment.map { strdup($0) } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }
    var pid: pid_t = 0
    let error = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
    guard error == 0 else {
        return .failure("runProcess: cannot start \(path): \(String(cString: strerror(error)))")
    }
    return .success(pid)
}

/// Polls `waitpid` until the child exits or `timeout` passes. Returns the shell-style status
/// (exit code, or 128 + signal) and whether the timeout passed first.
private func waitForExit(_ pid: pid_t, timeout: TimeInterval) -> (status: Int32, timedOut: Bool) {
    let deadline = Date().addingTimeInterval(timeout)
    var rawStatus: Int32 = 0
    while true {
        let result = waitpid(pid, &rawStatus, WNOHANG)
        if result == pid { break }
        if result == -1 && errno != EINTR { return (status: 127, timedOut: false) }
        if Date() >= deadline { return (status: 0, timedOut: true) }
        usleep(10_000)
    }
    // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift cannot import.
    let signal = rawStatus & 0x7f
    return (status: signal == 0 ? (rawStatus >> 8) & 0xff : 128 + signal, timedOut: false)
}

/// `environment` without the variables Open MPI exports when a process initializes MPI as a singleton
/// or is started by mpirun: all `PMIX_*`, and `OMPI_*` except user MCA settings (`OMPI_MCA_btl=...`
/// is kept; the launch-internal `OMPI_MCA_ess*`, `OMPI_MCA_orte_*`, `OMPI_MCA_pmix*` are not).
/// Found by experiment with Open MPI 4.1: after an in-process singleton MPI_Init, a child `mpirun` that
/// inherits `OMPI_MCA_ess=singleton` exits 1 without any message.
public func withoutMPILaunchVariables(_ environment: [String: String]) -> [String: String] {
    environment.filter { key, _ in
        if key.hasPrefix("PMIX_") { return false }
        guard key.hasPrefix("OMPI_") else { return true }
        let launchInternal = ["OMPI_MCA_ess", "OMPI_MCA_orte_", "OMPI_MCA_pmix"]
        return key.hasPrefix("OMPI_MCA_") && !launchInternal.contains { key.hasPrefix($0) }
    }
}

/// `mpirun` found on PATH, or nil.
public let mpirunURL: URL? = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":")
        .map { URL(fileURLWithPath: String($0)).appendingPathComponent("mpirun") }
        .first { FileManager.default.isExecutableFile(atPath: $0.path) }
}()

/// Whether `mpirun` is installed (tests that launch jobs are skipped otherwise).
public var mpirunAvailable: Bool { mpirunURL != nil }

/// The mpirun options this machine needs, as in launch/mpirun-options.sh:
/// - `--allow-run-as-root` when running as root (mpirun refuses root otherwise; containers run as root);
/// - `--oversubscribe` so more ranks than cores can start (the test machine has 2 cores);
/// - `--bind-to none`: with ≤ 2 ranks Open MPI binds each rank to ONE core, which would serialize
///   every thread of a multi-threaded rank;
/// - `--mca btl_vader_single_copy_mechanism none` when Yama restricts ptrace (ptrace_scope ≥ 1 without
///   CAP_SYS_PTRACE, or 3): shared-memory single-copy (CMA) needs ptrace rights between sibling ranks.
public func mpirunOptions() -> [String] {
    var options = ["--oversubscribe", "--bind-to", "none"]
    if getuid() == 0 { options.insert("--allow-run-as-root", at: 0) }
    if crossMemoryAttachBlocked() { options += ["--mca", "btl_vader_single_copy_mechanism", "none"] }
    return options
}

/// Yama's ptrace restriction, which blocks Open MPI's CMA single copy between sibling ranks:
/// scope 1–2 unless the process has CAP_SYS_PTRACE (bit 19 of CapEff), scope 3 always.
private func crossMemoryAttachBlocked() -> Bool {
    guard let scopeText = try? String(contentsOfFile: "/proc/sys/kernel/yama/ptrace_scope", encoding: .utf8),
          let scope = Int(scopeText.trimmingCharacters(in: .whitespacesAndNewlines)), scope >= 1 else { return false }
    if scope >= 3 { return true }
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let capabilities = status.split(separator: "\n").first { $0.hasPrefix("CapEff:") }
        .flatMap { UInt64($0.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16) } ?? 0
    return capabilities & (1 << 19) == 0
}

/// The command that runs `executable` with `arguments` as `ranks` MPI processes on this machine:
/// `mpirun` (from PATH; `/usr/bin/env mpirun` if absent, which then fails with a clear message)
/// with `mpirunOptions()`. Run it with `runProcess`, which also cleans the environment.
public func mpirunCommand(ranks: Int, executable: URL, arguments: [String]) -> (URL, [String]) {
    let launcherArguments = mpirunOptions() + ["-n", String(ranks), executable.path] + arguments
    if let mpirunURL { return (mpirunURL, launcherArguments) }
    return (URL(fileURLWithPath: "/usr/bin/env"), ["mpirun"] + launcherArguments)
}
