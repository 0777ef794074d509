import Foundation
import Diagnostics
import JSON

/// The weights of a Hugging Face model folder: one `model.safetensors`, or the shards that
/// `model.safetensors.index.json` lists (as `save_pretrained` writes models over its shard size).
/// Every file is memory-mapped; no tensor is copied until the caller converts it.
public struct ModelWeights: Sendable {
    public static let singleFile = "model.safetensors"
    public static let indexFile = "model.safetensors.index.json"

    public let folder: URL
    /// The mapped files, in the order the index first names them (one file when not sharded).
    public let files: [SafeTensorsFile]
    /// Tensor name → index into `files`.
    private let fileOfTensor: [String: Int]

    /// Tensor names, sorted.
    public var names: [String] { fileOfTensor.keys.sorted() }

    public subscript(name: String) -> SafeTensor? {
        fileOfTensor[name].flatMap { files[$0][name] }
    }

    /// Opens the folder's weights, checking that every tensor the index lists is in the shard it names.
    public static func open(folder: URL) throws -> ModelWeights {
        let manager = FileManager.default
        let single = folder.appendingPathComponent(singleFile)
        if manager.fileExists(atPath: single.path) {
            let file = try SafeTensorsFile.read(contentsOf: single)
            return ModelWeights(folder: folder, files: [file],
                                fileOfTensor: Dictionary(uniqueKeysWithValues: file.names.map { ($0, 0) }))
        }
        let index = folder.appendingPathComponent(indexFile)
        guard manager.fileExists(atPath: index.path) else {
            let hasPyTorchWeights = manager.fileExists(atPath: folder.appendingPathComponent("pytorch_model.bin").path)
            throw WeightsError.noWeights(folder: folder.path, hasPyTorchWeights: hasPyTorchWeights)
        }
        let weightMap = try readWeightMap(index)
        var shardNames: [String] = []
        for shard in weightMap.values where !shardNames.contains(shard) {
            shardNames.append(shard)
        }
        shardNames.sort()
        var files: [SafeTensorsFile] = []
        for shard in shardNames {
            let url = folder.appendingPathComponent(shard)
            guard manager.fileExists(atPath: url.path) else {
                throw WeightsError.missingShard(index: index.path, shard: shard)
            }
            files.append(try SafeTensorsFile.read(contentsOf: url))
        }
        var fileOfTensor: [String: Int] = [:]
        for (tensor, shard) in weightMap {
            let position = shardNames.firstIndex(of: shard)!
            guard files[position][tensor] != nil else {
                throw WeightsError.tensorNotInShard(index: index.path, tensor: tensor, shard: shard)
            }
            fileOfTensor[tensor] = position
        }
        return ModelWeights(folder: folder, files: files, fileOfTensor: fileOfTensor)
    }

    /// The index's `weight_map`: tensor name → shard file name (a plain name inside the folder).
    private static func readWeightMap(_ index: URL) throws -> [String: String] {
        let document: JSONValue
        do {
            document = try JSONValue.parse(Data(contentsOf: index), file: index.path)
        } catch let error as JSONError {
            throw WeightsError.invalidIndex(index: index.path, reason: "\(error.problem)")
        } catch {
            throw WeightsError.invalidIndex(index: index.path, reason: "cannot be read: \(error.localizedDescription)")
        }
        guard case .object(let root) = document, case .object(let map)? = root["weight_map"] else {
            throw WeightsError.invalidIndex(index: index.path, reason: "no \"weight_map\" object")
        }
        var weightMap: [String: String] = [:]
        for (tensor, value) in map.members {
            guard case .string(let shard) = value else {
                throw WeightsError.invalidIndex(index: index.path, reason: "the shard of \"\(tensor)\" is not a string")
            }
            guard !shard.isEmpty, !shard.contains("/"), shard != "..", shard != "." else {
                throw WeightsError.invalidIndex(index: index.path, reason: "shard \"\(shard)\" of \"\(tensor)\" is not a file name in the folder")
            }
            weightMap[tensor] = shard
        }
        guard !weightMap.isEmpty else {
            throw WeightsError.invalidIndex(index: index.path, reason: "\"weight_map\" is empty")
        }
        return weightMap
    }
}

/// Problems with a model folder's set of weight files (problems inside one file are `SafeTensorsError`s).
public enum WeightsError: Error, IdenticalOnEveryRank, CustomStringConvertible, Equatable {
    case noWeights(folder: String, hasPyTorchWeights: Bool)
    case invalidIndex(index: String, reason: String)
    case missingShard(index: String, shard: String)
    case tensorNotInShard(index: String, tensor: String, shard: String)

    public var description: String {
        switch self {
        case let .noWeights(folder, hasPyTorchWeights):
            return "\(folder): no \(ModelWeights.singleFile) or \(ModelWeights.indexFile)"
                + (hasPyTorchWeights ? " (only pytorch_model.bin, which dpo-dist does not read: save the model with "
                    + "safe_serialization=True to get safetensors)" : "")
        case let .invalidIndex(index, reason):
            return "\(index): \(reason)"
        case let .missingShard(index, shard):
            return "\(index): lists shard \(shard), which is not in the folder"
        case let .tensorNotInShard(index, tensor, shard):
            return "\(index): tensor \"\(tensor)\" is listed in \(shard) but that file does not contain it"
        }
    }
}
