// Shared by the fuzz targets whose parser reads a file: each input is written to one file per process in /dev/shm
// (or /tmp), which the parser then opens as it would a user's file.
import Foundation

/// A folder private to this fuzzing process.
let fuzzFolder: String = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let folder = "\(base)/dpo-dist-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    return folder
}()

/// Writes the fuzzer's input to `name` in `fuzzFolder` and returns its path.
func writeInput(_ data: UnsafePointer<UInt8>, _ size: Int, as name: String) -> String {
    let path = "\(fuzzFolder)/\(name)"
    FileManager.default.createFile(atPath: path, contents: Data(bytes: data, count: size))
    return path
}
